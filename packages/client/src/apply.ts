import {
  bare,
  type Canonical,
  type Conflict,
  canonicalize,
  DELETED_AT_FIELD,
  isDeleted,
  mergeFields,
  type RecordState,
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
 * A server change is applied field by field onto the local row:
 *
 *   field in the change ──┐
 *                         ├─ pending local edit as new or newer? ── yes ─▶ local value stays
 *   pending local edit ───┘                     │ no
 *                                               └───────────────────────▶ server value
 *   field not in the change ──────────────────────────────────────────────▶ local value stays
 *
 * Fields absent from a change keep their local value because the server leaves out the fields
 * this client wrote itself (what it holds is this client's own write), and a change may be a
 * subset of the record. Settled local fields carry no timestamp of their own: what the server
 * sends is its current winner, and pages are applied in the order they were answered, so it is
 * never older than what the row holds. Pending edits (outbox) carry theirs and go through the
 * protocol's LWW (`mergeFields`, stored = the pending edit), so a newer local edit is never
 * clobbered and an older one loses exactly as it will on the server. A record missing locally
 * is created from the fields it gets. A full merged state (older servers) is just a change
 * with every field.
 */
export interface ApplyInput {
  changes: readonly ServerChange[];
  /**
   * Fields of this client's push that lost (push answer). The server's value is applied like a
   * field of a server change: when the winner is this client's own earlier write (another tab,
   * same clientId), the server leaves it out of `changes`, and the row would keep the loser.
   */
  conflicts?: readonly Conflict[];
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

type Row = Record<string, unknown>;

/** What the page says about one record: its fields, canonical, newest of each. */
interface Incoming {
  table: string;
  id: string;
  fields: Record<string, TimedValue>;
}

export async function applyServerChanges(ctx: ApplyContext, input: ApplyInput): Promise<void> {
  const { db } = ctx;
  const incoming = [...incomingRecords(input).values()].filter((c) => ctx.tables.has(c.table));
  const scope = [...ctx.tables, OUTBOX_TABLE, STATE_TABLE];
  await db.transaction('rw', scope, async (tx) => {
    ctx.untracked.add(tx.idbtrans);
    const outbox = db.table<OutboxRow, number>(OUTBOX_TABLE);
    // The rows just acknowledged count as pending for this page: a push's answer is read
    // before its own write, so it may hold an older state of a record this client has just
    // written, and the server leaves the newer fields (its own) out of the answer. Fields of
    // those rows that lost (conflicts) do not: the server's value wins them, ties included.
    const acknowledged = input.acknowledged ?? [];
    const pending =
      incoming.length === 0 || (await outbox.count()) === 0
        ? new Map<string, RecordState>()
        : pendingStates(
            withoutLost(
              await outbox
                .where('[table+id]')
                .anyOf(incoming.map((c) => [c.table, c.id]))
                .sortBy('seq'),
              new Set(acknowledged),
              input.conflicts ?? [],
            ),
          );
    if (acknowledged.length > 0) await outbox.bulkDelete([...acknowledged]);
    if (incoming.length > 0) {
      for (const [table, records] of byTable(incoming)) {
        const local = await db.table<Row, string>(table).bulkGet(records.map((r) => r.id));
        const puts: Row[] = [];
        const deletes: string[] = [];
        records.forEach((change, i) => {
          const { state } = mergeFields(pending.get(recordKey(table, change.id)), change.fields);
          if (isDeleted(state)) {
            deletes.push(change.id);
            return;
          }
          // Only the change's own fields are written over the local row. A pending field the
          // change does not carry is in the row already (the app wrote both together).
          const before = local[i];
          const row: Row = before ? { ...before } : { ...state.data };
          if (before) for (const field of Object.keys(change.fields)) row[field] = state.data[field];
          row[ID_FIELD] = change.id;
          delete row[DELETED_AT_FIELD];
          puts.push(row);
        });
        if (puts.length > 0) await db.table(table).bulkPut(puts);
        if (deletes.length > 0) await db.table(table).bulkDelete(deletes);
      }
    }
    if (input.state && input.state.length > 0) await db.table(STATE_TABLE).bulkPut([...input.state]);
  });
}

/** Outbox rows with the fields of acknowledged rows that lost on the server taken out. */
function withoutLost(rows: OutboxRow[], acknowledged: Set<number>, lost: readonly Conflict[]): OutboxRow[] {
  if (lost.length === 0) return rows;
  const lostFields = new Set(lost.map((c) => `${recordKey(c.table, c.id)}\u0000${c.field}`));
  return rows.map((row) => {
    if (row.seq === undefined || !acknowledged.has(row.seq)) return row;
    const key = recordKey(row.table, row.id);
    const fields = bare<OutboxRow['fields'][string]>();
    for (const [field, f] of Object.entries(row.fields)) {
      if (!lostFields.has(`${key}\u0000${field}`)) fields[field] = f;
    }
    return { ...row, fields };
  });
}

/**
 * The page as one entry per record, its fields canonical. Servers write field timestamps with
 * 3 or 6 fractional digits and the outbox holds 6: compared as text, only canonical forms
 * agree with time order. A record named twice (a change and a conflict, or two changes) keeps
 * the newest value of each field, so the order of the page does not matter.
 */
function incomingRecords(input: ApplyInput): Map<string, Incoming> {
  const records = new Map<string, Incoming>();
  const add = (table: string, id: string, field: string, value: unknown, at: string) => {
    const key = recordKey(table, id);
    let record = records.get(key);
    if (!record) {
      record = { table, id, fields: bare() };
      records.set(key, record);
    }
    const updatedAt = canonical(at);
    const had = record.fields[field];
    if (!had || updatedAt > had.updatedAt) record.fields[field] = { value, updatedAt };
  };
  for (const change of input.changes) {
    const fields = change.fields ?? {};
    for (const field of Object.keys(fields)) {
      const f = fields[field]!;
      add(change.table, change.id, field, f.value, f.updatedAt);
    }
    // The deletedAt field may be left out (this client deleted the record itself) while the
    // change still says the record is deleted.
    if (typeof change.deletedAt === 'string' && !Object.hasOwn(fields, DELETED_AT_FIELD)) {
      add(change.table, change.id, DELETED_AT_FIELD, canonical(change.deletedAt), change.deletedAt);
    }
  }
  for (const c of input.conflicts ?? []) add(c.table, c.id, c.field, c.serverValue, c.serverUpdatedAt);
  return records;
}

function canonical(at: string): Canonical {
  return (canonicalize(at) ?? at) as Canonical;
}

function byTable(records: readonly Incoming[]): Map<string, Incoming[]> {
  const tables = new Map<string, Incoming[]>();
  for (const r of records) {
    const list = tables.get(r.table);
    if (list) list.push(r);
    else tables.set(r.table, [r]);
  }
  return tables;
}
