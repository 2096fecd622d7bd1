import { type Change, decodeValue } from '@mana/sync-protocol';
import type { Dexie } from 'dexie';
import type { PendingChange } from './client-types.js';
import { encodeRecord, holdsBlobs, insertFields, readRecordBlobs } from './record-fields.js';
import { ADOPTION_TIMESTAMP, OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow } from './schema.js';
import type { RefusedChange, SyncErrorInfo, UnsyncableRecordEvent } from './status.js';

/**
 * What cannot reach the server stays on the device, counted and listed, never dropped. Kept as
 * rows of the state table (no schema change for the app):
 *
 *   blocked:<table>␀<id>  a record that existed before sync was attached and cannot be
 *                         uploaded (a value no encoding covers, a bad id). Counted in `pending`
 *                         and listed by `stop()`; queued by itself once the app fixes the record,
 *                         forgotten once it is deleted.
 *   refused:<seq>         a change the server refused for good (4xx other than 401/408/429),
 *                         moved out of the queue so the changes behind it go on.
 *
 * While either exists, a sync run that otherwise succeeded ends in status `error`
 * (`UNSYNCABLE_RECORD` first, then `CHANGE_REFUSED`).
 */
const BLOCKED = 'blocked:';
const REFUSED = 'refused:';

export const blockedKey = (table: string, id: unknown) => `${BLOCKED}${table}\u0000${JSON.stringify(id)}`;

type Blocked = Omit<UnsyncableRecordEvent, 'record'>;

export function blockedRow(table: string, id: unknown, message: string): StateRow {
  const value: Blocked = { table, id, code: 'UNSYNCABLE_RECORD', message };
  return { key: blockedKey(table, id), value };
}

const stateTable = (db: Dexie) => db.table<StateRow, string>(STATE_TABLE);
const rowsOf = (db: Dexie, prefix: string) => stateTable(db).where('key').startsWith(prefix);

/**
 * Looks at every blocked record again: deleted → forgotten; now valid → queued like an adopted
 * record (under what the server has), in the same transaction; still invalid → still blocked.
 */
export async function recheckBlocked(db: Dexie, tables: readonly string[]): Promise<UnsyncableRecordEvent[]> {
  if ((await rowsOf(db, BLOCKED).count()) === 0) return [];
  return db.transaction('rw', [...tables, OUTBOX_TABLE, STATE_TABLE], async () => {
    const still: UnsyncableRecordEvent[] = [];
    for (const row of await rowsOf(db, BLOCKED).toArray()) {
      const blocked = row.value as Blocked;
      const record = tables.includes(blocked.table)
        ? await db.table(blocked.table).get(blocked.id as string)
        : undefined;
      if (record === undefined) {
        await stateTable(db).delete(row.key);
        continue;
      }
      try {
        const encoded = encodeRecord(blocked.table, record);
        // Inside the transaction: the app's Dexie keeps it open while Blobs are read.
        if (holdsBlobs(encoded.fields))
          await (db.constructor as typeof Dexie).waitFor(readRecordBlobs(encoded.fields));
        const queued: OutboxRow = {
          table: blocked.table,
          id: encoded.id,
          op: 'insert',
          fields: insertFields(encoded, ADOPTION_TIMESTAMP),
          at: Date.now(),
        };
        await db.table(OUTBOX_TABLE).add(queued);
        await stateTable(db).delete(row.key);
      } catch (err) {
        const message = (err as Error).message;
        if (message !== blocked.message)
          await stateTable(db).put(blockedRow(blocked.table, blocked.id, message));
        still.push({ ...blocked, message, record });
      }
    }
    return still;
  });
}

export const countBlocked = (db: Dexie) => rowsOf(db, BLOCKED).count();

export async function blockedChanges(db: Dexie): Promise<PendingChange[]> {
  const rows = await rowsOf(db, BLOCKED).toArray();
  const records = await Promise.all(
    rows.map((r) => {
      const b = r.value as Blocked;
      return db.table(b.table).get(b.id as string) as Promise<Record<string, unknown> | undefined>;
    }),
  );
  return rows.map((r, i) => {
    const b = r.value as Blocked;
    return {
      table: b.table,
      id: typeof b.id === 'string' ? b.id : JSON.stringify(b.id),
      op: 'insert',
      fields: Object.keys(records[i] ?? {}).filter((f) => f !== 'id'),
      problem: { code: b.code, message: b.message },
    };
  });
}

/** Moves a refused change's outbox rows to the refused list, in one transaction. */
export async function setAside(
  db: Dexie,
  change: Change,
  rows: readonly OutboxRow[],
  error: Pick<SyncErrorInfo, 'code' | 'message'>,
): Promise<RefusedChange> {
  const fields: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(change.fields ?? {})) fields[name] = decodeValue(f.value, f.type);
  const refused: RefusedChange = {
    table: change.table,
    id: change.id,
    op: change.op,
    fields,
    code: error.code,
    message: error.message,
    at: Date.now(),
  };
  const seq = Math.min(...rows.map((r) => r.seq ?? 0));
  await db.transaction('rw', [OUTBOX_TABLE, STATE_TABLE], async () => {
    await db.table(OUTBOX_TABLE).bulkDelete(rows.map((r) => r.seq!));
    await stateTable(db).put({ key: `${REFUSED}${String(seq).padStart(15, '0')}`, value: refused });
  });
  return refused;
}

export async function refusedChanges(db: Dexie): Promise<RefusedChange[]> {
  return (await rowsOf(db, REFUSED).toArray()).map((r) => r.value as RefusedChange);
}

export const discardRefused = (db: Dexie) => rowsOf(db, REFUSED).delete();

/** Refused changes as `stop()` lists them. */
export const refusedAsPending = (list: readonly RefusedChange[]): PendingChange[] =>
  list.map((r) => ({
    table: r.table,
    id: r.id,
    op: r.op,
    fields: Object.keys(r.fields),
    problem: { code: r.code, message: r.message },
  }));

/** Why a run that reached the server still ends in `error`, or null. */
export async function heldBackProblem(db: Dexie): Promise<SyncErrorInfo | null> {
  const blocked = await rowsOf(db, BLOCKED).count();
  if (blocked > 0) {
    return {
      code: 'UNSYNCABLE_RECORD',
      message: `${blocked} record(s) on this device cannot be uploaded (see pendingChanges())`,
      at: Date.now(),
    };
  }
  const refused = await rowsOf(db, REFUSED).count();
  if (refused > 0) {
    return {
      code: 'CHANGE_REFUSED',
      message: `the server refused ${refused} change(s) for good (see refusedChanges())`,
      at: Date.now(),
    };
  }
  return null;
}

/** State rows that go with the local data (stop({clearLocalData})). */
export const HELD_BACK_PREFIXES = [BLOCKED, REFUSED] as const;
