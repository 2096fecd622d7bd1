import type { Canonical, Change, Conflict, ServerChange } from '@mana/sync-protocol';
import type { Db } from '../db/sql.js';

/*
 * The store's interface and the shapes of its calls: types only, no implementation, so that
 * sync-store.ts (which builds the store from push.ts and page.ts) and those files can all
 * import them without a cycle.
 */

export interface PushInput {
  userId: string;
  appId: string;
  clientId: string;
  since: Canonical;
  changes: Change[];
  /** Server time (µs since the epoch): default timestamps and the clock-skew clamp. */
  nowMicros: number;
  maxSkewMicros: number;
  /** Most server changes to return. */
  limit: number;
  /** Their byte budget (PAGE_MAX_BYTES; default the store's). */
  maxBytes?: number;
  /** The changeset's schemaVersion (absent: 1), for changes that name none. */
  schemaVersion?: number;
}

export interface PushResult {
  /** Changes of large records may be RawChange (raw-change.ts): write them with pageChunks. */
  serverChanges: ServerChange[];
  conflicts: Conflict[];
  syncedUntil: Canonical;
  hasMore: boolean;
  /** Tables whose records this push changed (empty: nothing written, nobody to notify). */
  tablesChanged: string[];
  changesAccepted: number;
  fieldsAccepted: number;
  recordsWritten: number;
  /**
   * Rows the answer's page read (RATE_LIMIT_ROWS): those it sends and those it skips (the
   * client's own writes, the records this push rewrites), which cost the database the same.
   */
  pageRowsRead: number;
  /** Index probes of the page besides its rows: two a table of the app (table-count.ts). */
  indexProbes: number;
  /** Another push of the user wrote between this one's read and write: merged again, locked. */
  overtaken: boolean;
}

export interface PullInput {
  userId: string;
  appId: string;
  table: string;
  since: Canonical;
  limit: number;
  /** The page's byte budget (PAGE_MAX_BYTES; default the store's). */
  maxBytes?: number;
  /** The asking client (X-Client-Id): the fields it wrote itself are left out. Null: none. */
  clientId?: string | null;
}

export interface PullResult {
  /** Changes of large records may be RawChange (raw-change.ts): write them with pageChunks. */
  serverChanges: ServerChange[];
  syncedUntil: Canonical;
  hasMore: boolean;
}

/** A pull's page and what reading it cost (never sent: the transports send a PullResult). */
export interface PageRead extends PullResult {
  /**
   * Rows the page statement read: sent, skipped by the echo rule (the client's own writes
   * cost the database the same) or only saying there is more. Charged to RATE_LIMIT_ROWS.
   */
  rowsRead: number;
}

/** The store: the one door to the database (no handle on it here: the transports get none). */
export interface SyncStore {
  /** Which database serves it (GET /health says). */
  readonly kind: Db['kind'];
  push(input: PushInput): Promise<PushResult>;
  pull(input: PullInput): Promise<PageRead>;
  /** The (app, tables) pairs `userId` has records in, grouped by app (user-tables.ts). */
  userTables(userId: string): Promise<Array<{ appId: string; tables: string[] }>>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** The byte budget of every page (PAGE_MAX_BYTES), unless a call names its own. */
  pageMaxBytes?: number;
}
