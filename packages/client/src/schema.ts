import type { Canonical, ValueType } from '@mana/sync-protocol';

/**
 * The client's own tables, kept in the app's Dexie database so a write and its queued change
 * commit in one IndexedDB transaction. Spread `syncStores` into the app's newest schema version:
 *
 *   db.version(2).stores({ todos: 'id, done', ...syncStores });
 */
export const OUTBOX_TABLE = '_manaSyncOutbox';
export const STATE_TABLE = '_manaSyncState';

export const syncStores = {
  [OUTBOX_TABLE]: '++seq, [table+id]',
  [STATE_TABLE]: 'key',
} as const;

/** One captured write of one record, waiting to be pushed. Rows of one record fold in `seq` order. */
export interface OutboxRow {
  seq?: number;
  table: string;
  id: string;
  op: 'insert' | 'update' | 'delete';
  /**
   * Each field as it travels: its wire value and, when not plain JSON, its type (value-types.ts),
   * encoded when the app wrote it.
   */
  fields: Record<string, { value: unknown; updatedAt: Canonical; type?: ValueType }>;
  /** Date.now() when queued: stall detection and the age shown to the app on sign-out. */
  at: number;
}

export interface StateRow {
  key: string;
  value: unknown;
}

/** Keys of the state table. Cursors are per user so a second account never inherits the first one's. */
export const stateKey = {
  clientId: 'clientId',
  cursor: (user: string, table: string) => `cursor:${user}:${table}`,
  adopted: (table: string) => `adopted:${table}`,
  leader: 'leader',
  status: 'status',
  syncRequest: 'syncRequest',
} as const;

/**
 * Timestamp given to records that existed before sync was attached. Earlier than any real
 * edit, so where the server already holds a field its value stays, and everything the server
 * lacks is uploaded: a merge, never a drop or a duplicate (README "Existing data").
 */
export const ADOPTION_TIMESTAMP = '1970-01-01T00:00:00.000001Z' as Canonical;
