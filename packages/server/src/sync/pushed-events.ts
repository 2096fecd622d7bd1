import type { PushedEvent, PushedListener, PushedTransport } from './pushed-event.js';

/**
 * The pushed-event publisher: "a push committed", from the push that committed it (push.ts)
 * to whoever on any instance listens: the WebSocket hub (every user) and each SSE stream (its
 * user only). Published through the transport (the fan-out, realtime/), whose one subscription
 * feeds the listeners here, so an event pushed through another instance reaches both the
 * same way:
 *
 *   runPush ──publish──► transport (fan-out) ──feed──► PushedEvents ──subscribeAll──► Hub
 *                                                                 └─subscribe(user)─► SSE streams
 *
 * `resync` (the fan-out lost its transport for a while and is back) goes to every
 * subscriber: events may have been missed, so each pulls what it follows.
 * A throwing listener does not stop the others.
 */
export class PushedEvents {
  /** The handlers the transport calls (connect subscribes them). */
  readonly feed: PushedListener = {
    event: (event) => this.event(event),
    resync: () => this.resync(),
  };
  private readonly everyone = new Set<PushedListener>();
  private readonly byUser = new Map<string, Set<PushedListener>>();
  private transport: PushedTransport | undefined;

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Publishes and hears through `transport` from now on (realtime/attach.ts, at start-up). */
  connect(transport: PushedTransport): void {
    this.transport = transport;
    transport.subscribe(this.feed);
  }

  /**
   * A push committed: fire and forget, never throws. Without a transport (none connected
   * yet) this instance's listeners hear it directly.
   */
  publish(event: PushedEvent): void {
    if (this.transport) this.transport.publish(event);
    else this.event(event);
  }

  /** Events of every user (the hub, which routes them to sockets itself). */
  subscribeAll(listener: PushedListener): () => void {
    this.everyone.add(listener);
    return () => this.everyone.delete(listener);
  }

  /** Events of one user, and every resync; the returned function unsubscribes. */
  subscribe(userId: string, listener: PushedListener): () => void {
    const mine = this.byUser.get(userId) ?? new Set<PushedListener>();
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
