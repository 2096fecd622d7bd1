import {
  bare,
  type Canonical,
  type Conflict,
  canonicalize,
  DELETED_AT_FIELD,
  decodeValue,
  isDeleted,
  mergeFields,
  type RecordState,
  type ServerChange,
  type TimedValue,
} from '@mana/sync-protocol';
import type { Dexie, Table } from 'dexie';
import { pendingStates, recordKey } from './outbox.js';
import {
  ACK_PREFIX,
  type Acks,
  ackFrom,
  ackKeyOf,
  ackNow,
  isEmpty,
  noteAcknowledged,
  overwrites,
} from './overwrites.js';
import { ID_FIELD } from './record-fields.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow } from './schema.js';
import type { ConflictEvent } from './status.js';

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
 *
 * The same transaction keeps the device's acknowledged writes (overwrites.ts): an incoming field
 * that overwrites one written concurrently elsewhere comes back as a conflict event, for the
 * caller to raise once the transaction has committed.
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
  /** Those rows themselves, when the caller holds them (the push that sent them): not read again. */
  acknowledgedRows?: readonly OutboxRow[];
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

export async function applyServerChanges(ctx: ApplyContext, input: ApplyInput): Promise<ConflictEvent[]> {
  const { db } = ctx;
  const incoming = [...incomingRecords(input).values()].filter((c) => ctx.tables.has(c.table));
  const scope = [...ctx.tables, OUTBOX_TABLE, STATE_TABLE];
  return db.transaction('rw', scope, async (tx) => {
    ctx.untracked.add(tx.idbtrans);
    const outbox = db.table<OutboxRow, number>(OUTBOX_TABLE);
    // The rows just acknowledged count as pending for this page: a push's answer is read
    // before its own write, so it may hold an older state of a record this client has just
    // written, and the server leaves the newer fields (its own) out of the answer. Fields of
    // those rows that lost (conflicts) do not: the server's value wins them, ties included.
    const acknowledged = input.acknowledged ?? [];
    const pending =
      incoming.length === 0
        ? new Map<string, RecordState>()
        : pendingStates(
            withoutLost(await pendingRows(outbox, incoming), new Set(acknowledged), input.conflicts ?? []),
          );
    const ackedRows =
      input.acknowledgedRows ?? (acknowledged.length > 0 ? await outbox.bulkGet([...acknowledged]) : []);
    if (acknowledged.length > 0) await deleteRows(outbox, acknowledged);
    const acks = await readAcks(db, incoming, ackedRows);
    const told: ConflictEvent[] = [];
    // Fields that lost in this push are told as conflicts by the caller, not twice.
    const lostHere = new Set(
      (input.conflicts ?? []).map((c) => `${recordKey(c.table, c.id)}\u0000${c.field}`),
    );
    if (incoming.length > 0) {
      for (const [table, records] of byTable(incoming)) {
        const local = await storedRows(
          db.table<Row, string>(table),
          records.map((r) => r.id),
        );
        const puts: Row[] = [];
        const deletes: string[] = [];
        records.forEach((change, i) => {
          const key = recordKey(table, change.id);
          const { state, accepted } = mergeFields(pending.get(key), change.fields);
          if (isDeleted(state)) {
            deletes.push(change.id);
            acks.drop(key);
            return;
          }
          const mine = acks.get(key);
          if (mine) {
            // A field lost in this push, or with a pending edit (its push will tell), is not
            // an overwrite of the acknowledged write: that write is superseded.
            const pendingFields = pending.get(key)?.fieldTimestamps;
            for (const field of Object.keys(accepted)) {
              if (!lostHere.has(`${key}\u0000${field}`) && !pendingFields?.[field]) continue;
              delete accepted[field];
              delete mine[field];
            }
            told.push(...overwrites(table, change.id, mine, accepted, local[i]));
            acks.touch(key);
          }
          // Only the change's own fields are written over the local row. A pending field the
          // change does not carry is in the row already (the app wrote both together). A field
          // that is `undefined` is removed, as Dexie's update() removes it.
          const before = local[i];
          const row: Row = before ? { ...before } : {};
          for (const field of Object.keys(before ? change.fields : state.data)) {
            const value = state.data[field];
            if (value === undefined) delete row[field];
            else row[field] = value;
          }
          row[ID_FIELD] = change.id;
          delete row[DELETED_AT_FIELD];
          puts.push(row);
        });
        if (puts.length > 0) await db.table(table).bulkPut(puts);
        if (deletes.length > 0) await db.table(table).bulkDelete(deletes);
      }
    }
    if (ackedRows.length > 0) {
      const ackedAt = ackNow();
      const lost = new Map<string, Set<string>>();
      for (const c of input.conflicts ?? []) {
        const key = recordKey(c.table, c.id);
        lost.set(key, (lost.get(key) ?? new Set()).add(c.field));
      }
      for (const [key, rows] of groupRows(ackedRows)) {
        acks.set(key, noteAcknowledged(acks.get(key), rows, lost.get(key) ?? new Set(), ackedAt));
      }
    }
    await acks.write();
    if (input.state && input.state.length > 0) await db.table(STATE_TABLE).bulkPut([...input.state]);
    return told;
  });
}

/** The acknowledged-writes entries (overwrites.ts) a page touches, written back if changed. */
async function readAcks(
  db: Dexie,
  incoming: readonly Incoming[],
  ackedRows: ReadonlyArray<OutboxRow | undefined>,
) {
  const state = db.table<StateRow, string>(STATE_TABLE);
  const keys = new Set<string>();
  for (const r of ackedRows) if (r) keys.add(recordKey(r.table, r.id));
  // A device that never wrote (a first sync) has no entry: no need to look up every record.
  if (incoming.length > 0 && (await state.where('key').startsWith(ACK_PREFIX).first())) {
    for (const c of incoming) keys.add(recordKey(c.table, c.id));
  }
  const list = [...keys];
  const rows = list.length > 0 ? await storedRows(state, list.map(ackKeyOf)) : [];
  const entries = new Map<string, Acks | undefined>(list.map((k, i) => [k, ackFrom(rows[i])]));
  const dirty = new Set<string>();
  return {
    get: (key: string) => entries.get(key),
    set(key: string, value: Acks | undefined) {
      entries.set(key, value);
      dirty.add(key);
    },
    drop(key: string) {
      if (entries.get(key)) this.set(key, undefined);
    },
    touch: (key: string) => dirty.add(key),
    async write() {
      const puts: StateRow[] = [];
      const deletes: string[] = [];
      for (const key of dirty) {
        const entry = entries.get(key);
        if (isEmpty(entry)) deletes.push(ackKeyOf(key));
        else puts.push({ key: ackKeyOf(key), value: { ...entry } });
      }
      if (puts.length > 0) await state.bulkPut(puts);
      if (deletes.length > 0) await state.bulkDelete(deletes);
    },
  };
}

/**
 * The outbox rows of the page's records, in `seq` order: one index lookup per record, so the
 * cost follows the page, never the backlog queued behind it (a device that was offline for a
 * day holds thousands of rows, and every push answer and pulled page comes through here).
 * An empty outbox (a first sync) costs one key read.
 */
async function pendingRows(outbox: Table<OutboxRow, number>, incoming: readonly Incoming[]) {
  if ((await outbox.toCollection().limit(1).primaryKeys()).length === 0) return [];
  const found = await Promise.all(
    incoming.map((c) => outbox.where('[table+id]').equals([c.table, c.id]).toArray()),
  );
  return found.flat().sort((a, b) => a.seq! - b.seq!);
}

/**
 * Deletes acknowledged outbox rows. A batch is usually a run of consecutive seqs (a burst of
 * writes): then one range delete, not one IndexedDB request per row. Only when the seqs are
 * consecutive: a range over a batch split by record (a refused push narrowed down) would take
 * rows of the other half.
 */
async function deleteRows(outbox: Table<OutboxRow, number>, seqs: readonly number[]) {
  const unique = [...new Set(seqs)];
  let lo = unique[0]!;
  let hi = unique[0]!;
  for (const seq of unique) {
    if (seq < lo) lo = seq;
    if (seq > hi) hi = seq;
  }
  if (unique.length > 1 && hi - lo + 1 === unique.length)
    await outbox.where(':id').between(lo, hi, true, true).delete();
  else await outbox.bulkDelete(unique);
}

/**
 * The stored rows of a page's ids, or of its acknowledged-write entries (undefined where absent). IndexedDB has no multi-get: a
 * bulkGet is one request per id, most of a first sync's apply time in Chromium although nearly
 * every id is new. So first the stored keys between the page's lowest and highest id, one
 * request, keys only: when there are few (a first sync, time-ordered ids), only the ids found
 * among them are fetched; when the range is crowded (random ids in a full table), bulkGet as before.
 */
async function storedRows<T>(table: Table<T, string>, ids: string[]): Promise<Array<T | undefined>> {
  if (ids.length < 16) return table.bulkGet(ids);
  let lo = ids[0]!;
  let hi = ids[0]!;
  for (const id of ids) {
    if (id < lo) lo = id;
    if (id > hi) hi = id;
  }
  const stored = await table.where(':id').between(lo, hi, true, true).limit(ids.length).primaryKeys();
  if (stored.length >= ids.length) return table.bulkGet(ids);
  const present = new Set(stored);
  const wanted = ids.filter((id) => present.has(id));
  const rows = wanted.length > 0 ? await table.bulkGet(wanted) : [];
  const byId = new Map(wanted.map((id, i) => [id, rows[i]]));
  return ids.map((id) => byId.get(id));
}

function groupRows(rows: ReadonlyArray<OutboxRow | undefined>): Map<string, OutboxRow[]> {
  const groups = new Map<string, OutboxRow[]>();
  for (const row of rows) {
    if (!row) continue;
    const key = recordKey(row.table, row.id);
    const list = groups.get(key);
    if (list) list.push(row);
    else groups.set(key, [row]);
  }
  return groups;
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
 * The page as one entry per record, its fields canonical and decoded (a field's `type` makes
 * its JSON value the Date, Map, bytes… the writer stored: value-types.ts). Servers write field timestamps with
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
      add(change.table, change.id, field, decodeValue(f.value, f.type), f.updatedAt);
    }
    // The deletedAt field may be left out (this client deleted the record itself) while the
    // change still says the record is deleted.
    if (typeof change.deletedAt === 'string' && !Object.hasOwn(fields, DELETED_AT_FIELD)) {
      add(change.table, change.id, DELETED_AT_FIELD, canonical(change.deletedAt), change.deletedAt);
    }
  }
  for (const c of input.conflicts ?? [])
    add(c.table, c.id, c.field, decodeValue(c.serverValue, c.serverType), c.serverUpdatedAt);
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
