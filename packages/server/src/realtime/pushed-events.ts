import type { PushedEvent } from '../http/context.js';
import type { FanoutHandlers } from './fanout.js';

/**
 * "A push committed" for whoever on this instance listens: the WebSocket hub (every user)
 * and each SSE stream (its user only). Fed by the fan-out's one subscription, so an event
 * pushed through another instance reaches both the same way:
 *
 *   Fanout ──feed──► PushedEvents ──subscribeAll──► Hub (sockets of every user)
 *                                 └─subscribe(user)─► that user's SSE streams
 *
 * `resync` (the fan-out lost its transport for a while and is back) goes to every
 * subscriber: events may have been missed, so each pulls what it follows.
 * A throwing listener does not stop the others.
 */
export class PushedEvents {
  /** The handlers the fan-out calls: pass them to `fanout.subscribe`. */
  readonly feed: FanoutHandlers = {
    event: (event) => this.event(event),
    resync: () => this.resync(),
  };
  private readonly everyone = new Set<FanoutHandlers>();
  private readonly byUser = new Map<string, Set<FanoutHandlers>>();

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Events of every user (the hub, which routes them to sockets itself). */
  subscribeAll(listener: FanoutHandlers): () => void {
    this.everyone.add(listener);
    return () => this.everyone.delete(listener);
  }

  /** Events of one user, and every resync; the returned function unsubscribes. */
  subscribe(userId: string, listener: FanoutHandlers): () => void {
    const mine = this.byUser.get(userId) ?? new Set<FanoutHandlers>();
    mine.add(listener);
    this.byUser.set(userId, mine);
    return () => {
      if (!mine.delete(listener)) return;
      if (mine.size === 0 && this.byUser.get(userId) === mine) this.byUser.delete(userId);
    };
  }

  /** Users with at least one per-user subscriber (a leak shows here). */
  get users(): number {
    return this.byUser.size;
  }

  private event(event: PushedEvent): void {
    for (const l of this.everyone) this.guard(() => l.event(event));
    const mine = this.byUser.get(event.userId);
    if (mine) for (const l of [...mine]) this.guard(() => l.event(event));
  }

  private resync(): void {
    for (const l of this.everyone) this.guard(() => l.resync());
    for (const mine of [...this.byUser.values()]) for (const l of [...mine]) this.guard(() => l.resync());
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }
}
