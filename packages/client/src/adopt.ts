import type { Dexie } from 'dexie';
import { blockedRow } from './held-back.js';
import { encodeRecord, holdsBlobs, insertFields, readRecordBlobs } from './record-fields.js';
import {
  ADOPTION_TIMESTAMP,
  OUTBOX_TABLE,
  type OutboxRow,
  STATE_TABLE,
  type StateRow,
  stateKey,
} from './schema.js';

const CHUNK = 1000;

/**
 * Queues the records a synced table held before sync was attached (an app that used Dexie
 * alone, a guest who used the app before signing in). Runs once per table, in chunks of
 * separate transactions so a large table never becomes one huge transaction. Their fields
 * carry ADOPTION_TIMESTAMP, so the server merges them under what it already has; re-running
 * after a crash halfway only re-queues identical fields, which the server treats as no-ops.
 * A record that cannot be uploaded is never skipped silently: it is kept as blocked
 * (held-back.ts), counted in `pending`, reported and listed until the app fixes or deletes it.
 */
export async function adoptExistingRecords(db: Dexie, tables: readonly string[]): Promise<number> {
  const state = db.table<StateRow, string>(STATE_TABLE);
  const outbox = db.table<OutboxRow, number>(OUTBOX_TABLE);
  const DexieClass = db.constructor as typeof Dexie;
  const waitFor = <T>(promise: Promise<T>) => DexieClass.waitFor(promise);
  let adopted = 0;
  for (const name of tables) {
    if (await state.get(stateKey.adopted(name))) continue;
    const table = db.table<Record<string, unknown>, string>(name);
    let after: string | undefined;
    for (;;) {
      const page = await (after === undefined ? table.orderBy(':id') : table.where(':id').above(after))
        .limit(CHUNK)
        .toArray();
      if (page.length === 0) break;
      const rows: OutboxRow[] = [];
      const blocked: StateRow[] = [];
      for (const record of page) {
        try {
          const encoded = encodeRecord(name, record);
          // This runs in Dexie's 'ready' handler: awaiting a promise that is not Dexie's would
          // leave its zone, and every later query would wait for the open that waits for this.
          // Dexie.waitFor gives a Dexie promise (and no promise at all without Blobs).
          if (holdsBlobs(encoded.fields)) await waitFor(readRecordBlobs(encoded.fields));
          rows.push({
            table: name,
            id: encoded.id,
            op: 'insert',
            fields: insertFields(encoded, ADOPTION_TIMESTAMP),
            at: Date.now(),
          });
        } catch (err) {
          blocked.push(blockedRow(name, record.id, (err as Error).message));
        }
      }
      await outbox.bulkAdd(rows);
      if (blocked.length > 0) await state.bulkPut(blocked);
      adopted += rows.length;
      after = page.at(-1)!.id as string;
    }
    await state.put({ key: stateKey.adopted(name), value: true });
  }
  return adopted;
}
