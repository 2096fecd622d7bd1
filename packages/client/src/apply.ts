import {
  bare,
  type Canonical,
  canonicalize,
  DELETED_AT_FIELD,
  isDeleted,
  mergeFields,
  type ServerChange,
  type TimedValue,
} from '@mana/sync-protocol';
import type { Dexie } from 'dexie';
import { pendingStates, recordKey } from './outbox.js';
import { ID_FIELD } from './record-fields.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow } from './schema.js';

/**
 * Applies one page of server changes in one transaction, together with what the page means
 * for the client's bookkeeping (pushed outbox rows acknowledged, cursors moved). A crash
 * before commit leaves the page unapplied and the cursor unmoved: it is simply fetched again.
 *
 * The server's merged record is authoritative except for fields that still have a pending
 * local edit: those go through the protocol's field-level LWW (`mergeFields`, stored = the
 * pending edit), so a newer local edit is never clobbered and an older one loses exactly as it
 * will on the server.
 */
export interface ApplyInput {
  changes: readonly ServerChange[];
  /** Outbox rows the server has now acknowledged. */
  acknowledged?: readonly number[];
  /** State rows to write (cursors). */
  state?: readonly StateRow[];
}

export interface ApplyContext {
  db: Dexie;
  tables: ReadonlySet<string>;
  untracked: WeakSet<object>;
}

export async function applyServerChanges(ctx: ApplyContext, input: ApplyInput): Promise<void> {
  const { db } = ctx;
  const changes = input.changes.filter((c) => ctx.tables.has(c.table));
  const scope = [...ctx.tables, OUTBOX_TABLE, STATE_TABLE];
  await db.transaction('rw', scope, async (tx) => {
    ctx.untracked.add(tx.idbtrans);
    const outbox = db.table<OutboxRow, number>(OUTBOX_TABLE);
    if (input.acknowledged && input.acknowledged.length > 0) await outbox.bulkDelete([...input.acknowledged]);
    if (changes.length > 0) {
      const pending =
        (await outbox.count()) === 0
          ? new Map()
          : pendingStates(
              await outbox
                .where('[table+id]')
                .anyOf(changes.map((c) => [c.table, c.id]))
                .sortBy('seq'),
            );
      const puts = new Map<string, Record<string, unknown>[]>();
      const deletes = new Map<string, string[]>();
      for (const change of changes) {
        const incoming = bare<TimedValue>();
        for (const [field, f] of Object.entries(change.fields)) {
          incoming[field] = {
            value: f.value,
            updatedAt: (canonicalize(f.updatedAt) ?? f.updatedAt) as Canonical,
          };
        }
        if (change.op === 'delete' && !(DELETED_AT_FIELD in incoming) && change.deletedAt) {
          const at = (canonicalize(change.deletedAt) ?? change.deletedAt) as Canonical;
          incoming[DELETED_AT_FIELD] = { value: at, updatedAt: at };
        }
        const { state } = mergeFields(pending.get(recordKey(change.table, change.id)), incoming);
        if (isDeleted(state)) {
          push(deletes, change.table, change.id);
        } else {
          const row: Record<string, unknown> = { ...state.data, [ID_FIELD]: change.id };
          delete row[DELETED_AT_FIELD];
          push(puts, change.table, row);
        }
      }
      for (const [table, rows] of puts) await db.table(table).bulkPut(rows);
      for (const [table, ids] of deletes) await db.table(table).bulkDelete(ids);
    }
    if (input.state && input.state.length > 0) await db.table(STATE_TABLE).bulkPut([...input.state]);
  });
}

function push<T>(map: Map<string, T[]>, key: string, value: T) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
