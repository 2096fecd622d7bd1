/** What a push announces after it commits: the WebSocket hub turns it into `sync-available`. */
export interface PushedEvent {
  userId: string;
  appId: string;
  tables: string[];
  clientId: string;
}

/** Who hears pushed events: the fan-out's subscribers, the hub, each SSE stream. */
export interface PushedListener {
  /** A push committed, on this instance or another. */
  event(event: PushedEvent): void;
  /**
   * Events may have been missed (the transport was down for a while): every listener should
   * pull what it follows. Called after the transport is back.
   */
  resync(): void;
}

/**
 * How pushed events travel between instances (realtime/fanout.ts implements it): `publish`
 * reaches this instance's subscribers at once and every other instance's soon after.
 */
export interface PushedTransport {
  publish(event: PushedEvent): void;
  subscribe(listener: PushedListener): () => void;
}
