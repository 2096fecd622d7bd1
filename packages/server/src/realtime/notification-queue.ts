/**
 * The notifications a slow socket has not been sent yet, merged per app: however many pushes
 * happen while a socket cannot keep up, it gets at most one `sync-available` per app with
 * the union of the tables once it drains. Bounded by `maxEntries` (app + table pairs); the
 * caller drops the socket when `add` refuses, and the client pulls after reconnecting.
 */
export class NotificationQueue {
  private readonly apps = new Map<string, Set<string>>();
  private entries = 0;

  constructor(private readonly maxEntries: number) {}

  get empty(): boolean {
    return this.apps.size === 0;
  }

  /** Merges a notification in; false when that would pass the bound (nothing is added then). */
  add(appId: string, tables: readonly string[]): boolean {
    const known = this.apps.get(appId);
    const fresh = tables.filter((t) => !known?.has(t));
    const cost = fresh.length + (known ? 0 : 1);
    if (this.entries + cost > this.maxEntries) return false;
    const set = known ?? new Set<string>();
    for (const t of fresh) set.add(t);
    this.apps.set(appId, set);
    this.entries += cost;
    return true;
  }

  /** Everything queued, one entry per app, oldest app first; the queue is empty afterwards. */
  take(): Array<{ appId: string; tables: string[] }> {
    const out = [...this.apps].map(([appId, tables]) => ({ appId, tables: [...tables] }));
    this.apps.clear();
    this.entries = 0;
    return out;
  }
}
