import { type Canonical, EPOCH } from '@mana/sync-protocol';
import type { Dexie } from 'dexie';
import { STATE_TABLE, type StateRow, stateKey } from './schema.js';

/** Where the last pull of `table` ended for `user` (the state table), or the epoch. */
export async function readCursor(db: Dexie, user: string, table: string): Promise<Canonical> {
  const row = await db.table<StateRow, string>(STATE_TABLE).get(stateKey.cursor(user, table));
  return (row?.value as Canonical | undefined) ?? EPOCH;
}

/** Every table's cursor in one read, not a transaction each. */
export async function readCursors(db: Dexie, user: string, tables: readonly string[]): Promise<Canonical[]> {
  const rows = await db
    .table<StateRow, string>(STATE_TABLE)
    .bulkGet(tables.map((t) => stateKey.cursor(user, t)));
  return rows.map((row) => (row?.value as Canonical | undefined) ?? EPOCH);
}
