import type { PushedEvent, PushedListener, PushedTransport } from '../sync/pushed-event.js';

/**
 * Carries "a push committed" between server instances.
 *
 *   push (committed) ──publish──► Fanout ──event──► every instance's hub ──► that user's sockets
 *
 * `publish` delivers to this instance's subscribers at once and, for a shared transport,
 * to every other instance soon after. Implementations: in process (`fanout-local.ts`, PGlite
 * or a single instance) and PostgreSQL LISTEN/NOTIFY (`fanout-postgres.ts`). Redis pub/sub or
 * NATS fit the same interface when one PostgreSQL's NOTIFY becomes the bottleneck.
 */
export interface Fanout extends PushedTransport {
  readonly kind: 'local' | 'postgres';
  /** Fire and forget: never throws, never blocks the push response. */
  publish(event: PushedEvent): void;
  subscribe(handlers: PushedListener): () => void;
  /** Sends what is still batched, then stops. */
  close(): Promise<void>;
}

/** A set of subscribers, shared by the implementations. A throwing handler does not stop the others. */
export class Subscribers {
  private readonly list = new Set<PushedListener>();

  constructor(private readonly onError: (err: unknown) => void) {}

  add(handlers: PushedListener): () => void {
    this.list.add(handlers);
    return () => this.list.delete(handlers);
  }

  event(event: PushedEvent): void {
    for (const h of this.list) this.guard(() => h.event(event));
  }

  resync(): void {
    for (const h of this.list) this.guard(() => h.resync());
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }
}
