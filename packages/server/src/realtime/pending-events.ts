import type { PushedEvent } from '../sync/pushed-event.js';

/**
 * Events waiting to be published, merged by (user, app, client): ten pushes of one client
 * to one app in a batch window become one event with the union of their tables. Bounded:
 * past `maxKeys` the individual events are dropped and a single "resync" replaces them,
 * which tells every instance's sockets to pull (correct, only less precise).
 */
export class PendingEvents {
  private readonly byKey = new Map<string, { event: PushedEvent; tables: Set<string> }>();
  private overflowed = false;

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.byKey.size + (this.overflowed ? 1 : 0);
  }

  add(event: PushedEvent): void {
    if (this.overflowed) return;
    const key = JSON.stringify([event.userId, event.appId, event.clientId]);
    const found = this.byKey.get(key);
    if (found) {
      for (const t of event.tables) found.tables.add(t);
      return;
    }
    if (this.byKey.size >= this.maxKeys) {
      this.byKey.clear();
      this.overflowed = true;
      return;
    }
    this.byKey.set(key, { event, tables: new Set(event.tables) });
  }

  /** Marks that a resync must be published (events were lost). */
  markResync(): void {
    this.byKey.clear();
    this.overflowed = true;
  }

  /** Takes everything out: the events, or `resync: true` when they overflowed. */
  take(): { events: PushedEvent[]; resync: boolean } {
    const out = {
      resync: this.overflowed,
      events: this.overflowed
        ? []
        : [...this.byKey.values()].map(({ event, tables }) => ({ ...event, tables: [...tables] })),
    };
    this.byKey.clear();
    this.overflowed = false;
    return out;
  }

  /** Puts back what failed to send (keeps whatever arrived meanwhile). */
  restore(batch: { events: PushedEvent[]; resync: boolean }): void {
    if (batch.resync) this.markResync();
    for (const e of batch.events) this.add(e);
  }
}
