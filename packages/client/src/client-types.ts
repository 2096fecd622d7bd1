import type { GetToken } from './auth.js';
import type { WebSocketConstructor } from './realtime.js';
import type { ConflictEvent, SyncEvents, SyncStatus } from './status.js';

/** The public shape of the sync client: its options, its API and what stop() reports. */

export interface SyncClientOptions {
  /** mana-sync base URL, e.g. `https://sync.mana.how`. */
  url: string;
  /** The app's id on the server (`todo`, `calendar`, …). */
  appId: string;
  /** Dexie tables to sync; each needs the primary key `id` (a string). */
  tables: readonly string[];
  /** Returns the user's access token; `forceRefresh` asks for a new one. */
  getToken: GetToken;
  /** WebSocket constructor; default the global one. `null`: no realtime, periodic pull only. */
  WebSocket?: WebSocketConstructor | null;
  fetch?: typeof fetch;
  /** Quiet time after the last write before pushing (default 1000 ms)… */
  pushDebounceMs?: number;
  /** …but never wait longer than this while writes keep coming (default 5000 ms). */
  pushMaxWaitMs?: number;
  pushBatchSize?: number;
  pullLimit?: number;
  /** Fallback pull of every table (default 60 s). */
  pullIntervalMs?: number;
  /** Pending changes unsent this long while connected turn the status to `error` (default 30 s). */
  stallTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Ask for a fresh token this long before the current one expires (default 60 s). */
  tokenRefreshMarginMs?: number;
  /** `auto`: Web Locks, else an IndexedDB lease; `lease`: always the lease; `off`: always lead. */
  multiTab?: 'auto' | 'lease' | 'off';
  /** Retry delays after a failed sync: full jitter up to baseMs·2^n, capped (default 1 s, 30 s). */
  retryBackoff?: { baseMs?: number; maxMs?: number };
  /** Lease length of the fallback leader election (default 6000 ms). */
  leaderLeaseMs?: number;
}

export interface PendingChange {
  table: string;
  id: string;
  op: 'insert' | 'update' | 'delete';
  fields: string[];
}

export interface StopOptions {
  /** Try to push pending changes first (default true, up to `flushTimeoutMs`). */
  flush?: boolean;
  flushTimeoutMs?: number;
  /**
   * Delete the synced tables' records, the outbox, the cursors and this device's clientId
   * (sign-out on a shared device). The next `start()` syncs under a new clientId, so the
   * server sends back everything, the device's own earlier writes included.
   */
  clearLocalData?: boolean;
}

export interface StopReport {
  /** Changes that have not reached the server (lost if `clearLocalData` was set). */
  unsynced: PendingChange[];
}

export interface SyncClient {
  readonly status: SyncStatus;
  on<K extends keyof SyncEvents>(event: K, fn: (value: SyncEvents[K]) => void): () => void;
  /** Begins syncing (after sign-in). Writes are captured from creation on, signed in or not. */
  start(): Promise<void>;
  /** Push and pull now; resolves with the status after the run. */
  sync(): Promise<SyncStatus>;
  /** Sign-out: stops syncing and reports what did not reach the server. */
  stop(opts?: StopOptions): Promise<StopReport>;
  /** Writes a conflict's lost local value again, with a new timestamp, so it wins. */
  restore(conflict: ConflictEvent): Promise<void>;
  pendingChanges(): Promise<PendingChange[]>;
}
