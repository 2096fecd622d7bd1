import type { StreamFeed } from './stream-feed.js';

/**
 * The SSE streams open on this instance, by user: the per-user cap (the web app opens one per
 * app it shows, per tab) and shutdown, which ends them all before the server waits for its
 * connections to close.
 */
export class Streams {
  private readonly byUser = new Map<string, Set<StreamFeed>>();
  private open = 0;

  constructor(private readonly maxPerUser: number) {}

  /** False when `userId` already has the most streams allowed. */
  hasRoom(userId: string): boolean {
    return (this.byUser.get(userId)?.size ?? 0) < this.maxPerUser;
  }

  add(userId: string, stream: StreamFeed): void {
    const mine = this.byUser.get(userId) ?? new Set<StreamFeed>();
    if (mine.has(stream)) return;
    mine.add(stream);
    this.byUser.set(userId, mine);
    this.open++;
  }

  remove(userId: string, stream: StreamFeed): void {
    const mine = this.byUser.get(userId);
    if (!mine?.delete(stream)) return;
    this.open--;
    if (mine.size === 0) this.byUser.delete(userId);
  }

  counts(): { open: number; users: number } {
    return { open: this.open, users: this.byUser.size };
  }

  /** Shutdown: every stream ends (its client reconnects, to another instance). */
  endAll(): void {
    for (const mine of [...this.byUser.values()]) for (const stream of [...mine]) stream.end('shutdown');
  }
}
