import type { Auth } from '../auth/auth.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RateLimiter } from '../rate-limit.js';
import type { SyncStore } from '../store/sync-store.js';
import type { Admission } from './admission.js';
import type { PushedEvents } from './pushed-events.js';
import type { Streams } from './streams.js';

/**
 * The sync service's state, built once at start-up (server.ts) and handed to every transport:
 * HTTP (http/), WebSocket (realtime/) and the CLI. The functions of sync/ take it; they alone
 * call `store`.
 */
export interface SyncContext {
  config: Config;
  store: SyncStore;
  auth: Auth;
  logger: Logger;
  /** Prometheus metrics of this instance (the WebSocket hub counts its sockets here too). */
  metrics: Metrics;
  limiter: RateLimiter;
  /** Per-user concurrency and queue of push and pull (RATE_LIMIT_CONCURRENCY, RATE_LIMIT_QUEUE). */
  admission: Admission;
  /** Pushed events of every instance: push publishes, the WebSocket hub and SSE streams listen. */
  pushedEvents: PushedEvents;
  /** Open SSE streams of this instance. */
  streams: Streams;
  /** Extra sections for /health (the WebSocket hub adds its counts). */
  healthSections: Array<() => Record<string, unknown>>;
  startedAt: number;
  version: string;
  shuttingDown: boolean;
}
