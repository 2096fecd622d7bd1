import type { Auth, Principal } from '../auth/auth.js';
import type { DevIssuer } from '../auth/dev-issuer.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RateLimiter } from '../rate-limit.js';
import type { PushedEvents } from '../realtime/pushed-events.js';
import type { SyncStore } from '../store/sync-store.js';
import type { Streams } from '../stream/streams.js';
import type { Admission } from './admission.js';
import type { ConnectionCaps } from './connection-caps.js';

/** What a push announces after it commits: fan-out turns it into `sync-available`. */
export interface PushedEvent {
  userId: string;
  appId: string;
  tables: string[];
  clientId: string;
}

/** Everything a route needs, built once at start-up. */
export interface ServerContext {
  config: Config;
  store: SyncStore;
  auth: Auth;
  devIssuer?: DevIssuer | undefined;
  logger: Logger;
  /** Prometheus metrics of this instance (the WebSocket hub counts its sockets here too). */
  metrics: Metrics;
  limiter: RateLimiter;
  /** Per-user concurrency and queue of push and pull (RATE_LIMIT_CONCURRENCY, RATE_LIMIT_QUEUE). */
  admission: Admission;
  /** Connection caps (set once the HTTP server exists): request-time checks behind a trusted proxy. */
  connections?: ConnectionCaps;
  /** Called after a push that changed records has committed. */
  onPushed: Array<(event: PushedEvent) => void>;
  /** Pushed events of every instance (fed by the fan-out): the WebSocket hub and SSE streams listen here. */
  pushedEvents: PushedEvents;
  /** Open SSE streams of this instance. */
  streams: Streams;
  /** Extra sections for /health (the WebSocket hub adds its counts). */
  healthSections: Array<() => Record<string, unknown>>;
  startedAt: number;
  version: string;
  shuttingDown: boolean;
}

/** Hono context variables set by the middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal?: Principal;
    appId?: string;
  };
}
