import type { GetToken } from './auth.js';
import type { WebSocketConstructor } from './realtime.js';
import type { ConflictEvent, RefusedChange, SyncErrorInfo, SyncEvents, SyncStatus } from './status.js';

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
  /**
   * WebSocket constructor; default the global one (browsers, Node 22+). In Node 20 pass `ws`'s
   * `WebSocket`. `null`: no realtime, periodic pull only. Missing: a warning, once.
   */
  WebSocket?: WebSocketConstructor | null;
  fetch?: typeof fetch;
  /**
   * Default 0: a write is pushed at once when no push is in flight, and what is written during
   * a push goes in the next one. Above 0: quiet time after the last write before pushing…
   */
  pushDebounceMs?: number;
  /** …but never wait longer than this while writes keep coming (default 5000 ms; only with a debounce). */
  pushMaxWaitMs?: number;
  pushBatchSize?: number;
  pullLimit?: number;
  /** Fallback pull of every table (default 60 s). */
  pullIntervalMs?: number;
  /** Pending changes unsent this long while connected turn the status to `error` (default 30 s). */
  stallTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Ask for a new token this long before the current one expires, at most half its lifetime (default 60 s). */
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
  /**
   * Set when the change cannot reach the server as it is: `UNSYNCABLE_RECORD` (a record the
   * device held before sync and cannot upload) or the server's code for a refused change.
   */
  problem?: Pick<SyncErrorInfo, 'code' | 'message'>;
}

export interface StopOptions {
  /** Push what was written before `stop()` first (default true, up to `flushTimeoutMs`). */
  flush?: boolean;
  flushTimeoutMs?: number;
  /**
   * Delete the synced tables' records, the outbox, the cursors and this device's clientId
   * (sign-out on a shared device), but only when nothing is unsynced: otherwise nothing is
   * deleted and `unsynced` lists what would be lost, for the app to warn the user. The next
   * `start()` syncs under a new clientId, so the server sends back everything, the device's
   * own earlier writes included.
   */
  clearLocalData?: boolean;
  /** With `clearLocalData`: clear even though changes are unsynced (the user agreed to lose them). */
  discardUnsynced?: boolean;
}

export interface StopReport {
  /**
   * What has not reached the server, read before anything is cleared: pending changes, records
   * that cannot be uploaded and changes the server refused (those two with `problem`).
   */
  unsynced: PendingChange[];
  /** The local data was cleared (`clearLocalData`, and nothing unsynced or `discardUnsynced`). */
  cleared: boolean;
}

export interface SyncClient {
  readonly status: SyncStatus;
  on<K extends keyof SyncEvents>(event: K, fn: (value: SyncEvents[K]) => void): () => void;
  /** Begins syncing (after sign-in). Writes are captured from creation on, signed in or not. */
  start(): Promise<void>;
  /** Push and pull now; resolves with the status after the run. */
  sync(): Promise<SyncStatus>;
  /**
   * Sign-out: pushes what was written before the call, stops syncing, and reports what did not
   * reach the server; clears the device only if asked and nothing would be lost (StopOptions).
   */
  stop(opts?: StopOptions): Promise<StopReport>;
  /** Writes a conflict's lost local value again, with a new timestamp, so it wins. */
  restore(conflict: ConflictEvent): Promise<void>;
  /** Queued changes, and records that cannot be uploaded (with `problem`): what `pending` counts. */
  pendingChanges(): Promise<PendingChange[]>;
  /** Changes the server refused for good, oldest first; they stay until `discardRefused()`. */
  refusedChanges(): Promise<RefusedChange[]>;
  /** Forgets the refused changes (the local records keep their values). */
  discardRefused(): Promise<void>;
}
