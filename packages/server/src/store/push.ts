import { randomUUID } from 'node:crypto';
import {
  type Canonical,
  type Change,
  type Conflict,
  changeFields,
  formatMicros,
  isDeleted,
  mergeFields,
  parseMicros,
  RESTORED_WRITER,
  SERVER_TIME_WRITER,
  SyncError,
  settleServerTimed,
  sizeProblem,
  stateFrom,
  toServerChange,
  wireTime,
} from '@mana/sync-protocol';
import { type Db, type Fragment, sql } from '../db/sql.js';
import {
  type Current,
  DEFAULT_PAGE_MAX_BYTES,
  type PageEntry,
  type PageRow,
  pageStatement,
  type RecordRow,
  toPage,
} from './page.js';
import { reservePositions } from './positions.js';
import { tableCounter } from './table-count.js';
import type { PushInput, PushResult } from './types.js';
import { type WrittenRecord, writeStatement } from './write-statement.js';
import { markWritten, writersFrom } from './writers.js';

/**
 * The push: merge a batch under field-level LWW into the user's records, atomically.
 *
 * A push is two statements, in one transaction that first sets the user for row-level
 * security (db.forUser; BEGIN and the setting go with the read, COMMIT after the write; READ
 * COMMITTED, so each statement sees what other pushes committed before it, as before):
 *   1. read, in one snapshot: the user's last position, what other pushes changed since the
 *      client's cursor (the response's page), and the stored state of the batch's records
 *      merge in memory (pure, @mana/sync-protocol)
 *   2. write, if the user's last position is still the one read: take the user's row, reserve
 *      cursor positions, insert the new records, upsert the stored ones, append the log rows.
 * Every push that writes moves the user's last position while it holds the user's row, so an
 * unchanged position means nothing was written in between: the page and the stored states
 * were current, and the positions still increase in commit order. When another push of the
 * same user wrote in between, the write writes nothing, and the push runs again the locked
 * way, which cannot lose a race (and so do that user's pushes for the next second):
 *   BEGIN
 *   1. lock the user's row and reserve cursor positions
 *   │ 2. read the page  │ 3. read the stored state (sent together: one round trip)
 *   4. write (the same statement, with the reserved positions)
 *   COMMIT
 * Either way the write is committed before anything is acknowledged.
 */

interface StoredRow extends RecordRow {
  /** created_at in integer microseconds since the epoch, as text. */
  created_us: string;
}

/** One record's merge across the batch (a batch may touch a record more than once). */
interface Pending extends WrittenRecord {
  written: boolean;
  /** The stored fields before this push (undefined: a new record), for the size limits. */
  before?: Record<string, unknown>;
  /** The fields this push set, each with the index of the last change that set it. */
  setAt?: Map<string, number>;
}

const MICROSECOND = 1;

const emptyMerge = (): Merged => ({ conflicts: [], written: [], changesAccepted: 0, fieldsAccepted: 0 });

/**
 * How long a user whose push was overtaken pushes under the lock straight away. Why: a user
 * whose devices push at the same moment (the benchmark's heavy user: 8 connections) would
 * otherwise see most reads go to waste, each then done again under the lock; now about one a
 * second is.
 */
const CONTENDED_MS = 1000;
const MAX_CONTENDED_USERS = 10_000;

/** The store's push, with its memory of users overtaken lately. */
export function pusher(db: Db): (input: PushInput) => Promise<PushResult> {
  /** Users overtaken lately, and until when (ms) their pushes take the lock first. */
  const contended = new Map<string, number>();
  const locked = (input: PushInput) => db.forUser(input.userId).transaction((tx) => pushLocked(tx, input));

  async function pushChanges(input: PushInput): Promise<PushResult> {
    const until = contended.get(input.userId);
    if (until !== undefined) {
      if (until > Date.now()) return locked(input);
      contended.delete(input.userId);
    }
    const result = await db.forUser(input.userId).transaction((tx) => pushUnlocked(tx, input));
    if (result) return result;
    if (contended.size >= MAX_CONTENDED_USERS) contended.delete(contended.keys().next().value!);
    contended.set(input.userId, Date.now() + CONTENDED_MS);
    return { ...(await locked(input)), overtaken: true };
  }

  const tables = tableCounter(db);
  return async (input) => {
    const result =
      input.changes.length === 0
        ? resultOf(input, await db.forUser(input.userId).query<PageRow>(pageOf(input)), emptyMerge(), 0)
        : await pushChanges(input);
    result.indexProbes = tables.probes(input.userId, input.appId);
    return result;
  };
}

/** A push's records, each merged across the batch, in the order the batch first names them. */
interface Batch {
  pending: Map<string, Pending>;
  /** Each change's record, in batch order. */
  records: Pending[];
}

function batchOf(changes: Change[]): Batch {
  const pending = new Map<string, Pending>();
  const records: Pending[] = new Array(changes.length);
  changes.forEach((change, n) => {
    const key = `${change.table}\u0000${change.id}`;
    let p = pending.get(key);
    if (!p) {
      p = {
        table: change.table,
        id: change.id,
        state: undefined,
        who: undefined,
        eventId: '',
        createdUs: undefined,
        written: false,
        log: [],
      };
      pending.set(key, p);
    }
    records[n] = p;
  });
  return { pending, records };
}

/**
 * The page: the records of the app after the client's cursor, by other pushes. Read before
 * this push's positions are reserved and with nothing written in between (either way above),
 * so they are all the user has before those positions (base, base + 1, …); the records this
 * push writes are appended from memory, instead of being read back and decoded.
 */
const pageOf = (input: PushInput) =>
  pageStatement({
    userId: input.userId,
    appId: input.appId,
    table: null,
    since: input.since,
    limit: input.limit,
    echo: input.clientId,
    maxBytes: input.maxBytes ?? DEFAULT_PAGE_MAX_BYTES,
  });

/**
 * The stored state of the batch's records. It probes the primary key once per key: the LIMIT
 * keeps the planner from flattening the lateral subquery into a join, whose generic plan
 * (prepared statements) hashed every record of the user on each push, so a push cost grew
 * with the user's data.
 */
function storedStatement(input: PushInput, batch: Batch): Fragment {
  const keys = JSON.stringify([...batch.pending.values()].map((p) => ({ t: p.table, i: p.id })));
  return sql`
      SELECT r.table_name, r.record_id, r.data, r.field_timestamps,
             r.last_client_id, r.field_writers, r.field_actors, r.field_types,
             (extract(epoch FROM r.created_at) * 1000000)::int8::text AS created_us
      FROM jsonb_to_recordset(${keys}::text::jsonb) AS k(t text, i text)
      CROSS JOIN LATERAL (
        SELECT * FROM sync_records s
        WHERE s.user_id = ${input.userId} AND s.app_id = ${input.appId}
          AND s.table_name = k.t AND s.record_id = k.i
        LIMIT 1
      ) r`;
}

/** What the merge made of a batch. */
interface Merged {
  conflicts: Conflict[];
  /** Records with at least one accepted field, in the order they get positions. */
  written: Pending[];
  changesAccepted: number;
  fieldsAccepted: number;
}

/** Merges the batch into the stored states (`rows`), in batch order. */
function merge(input: PushInput, batch: Batch, rows: StoredRow[]): Merged {
  for (const row of rows) {
    const p = batch.pending.get(`${row.table_name}\u0000${row.record_id}`)!;
    p.state = stateFrom(row.data, row.field_timestamps, row.field_types);
    p.who = writersFrom(row);
    p.createdUs = Number(row.created_us);
    p.before = p.state.data;
  }
  const out: Merged = { conflicts: [], written: [], changesAccepted: 0, fieldsAccepted: 0 };
  const normalize = { nowMicros: input.nowMicros, maxSkewMicros: input.maxSkewMicros };
  /** Per change: the fields whose time the server chose (changeFields). */
  const serverTimed = new Map<string, 'clamped' | 'defaulted'>();
  input.changes.forEach((change, n) => {
    const p = batch.records[n]!;
    serverTimed.clear();
    const incoming = changeFields(change, normalize, serverTimed);
    if (serverTimed.size > 0) settleServerTimed(p.state, change, incoming, serverTimed);
    const wasDeleted = p.state !== undefined && isDeleted(p.state);
    const result = mergeFields(p.state, incoming);
    for (const l of result.lost) {
      out.conflicts.push({
        table: change.table,
        id: change.id,
        field: l.field,
        clientValue: l.clientValue,
        clientUpdatedAt: wireTime(l.clientUpdatedAt),
        ...(l.clientType === undefined ? {} : { clientType: l.clientType }),
        serverValue: l.serverValue,
        serverUpdatedAt: wireTime(l.serverUpdatedAt),
        ...(l.serverType === undefined ? {} : { serverType: l.serverType }),
      });
    }
    const accepted = Object.keys(result.accepted).length;
    if (accepted === 0) return;
    p.state = result.state;
    p.setAt ??= new Map();
    for (const field in result.accepted) p.setAt.set(field, n);
    p.who = markWritten(p.who, result.state.fieldTimestamps, result.accepted, input.clientId, change.actor);
    // The writer does not hold the time the server gave these: the echo rule sends them back.
    for (const field of serverTimed.keys()) {
      if (field in result.accepted) p.who.writers[field] = SERVER_TIME_WRITER;
    }
    // Undeleted: the fields this change did not write come back, and no device that applied
    // the delete holds them any more, their own writer included.
    if (wasDeleted && !isDeleted(result.state)) {
      for (const field of Object.keys(result.state.fieldTimestamps)) {
        if (!(field in result.accepted)) p.who.writers[field] = RESTORED_WRITER;
      }
    }
    p.log.push({
      op: change.op,
      fields: result.accepted,
      actor: change.actor ?? null,
      schemaVersion: change.schemaVersion ?? input.schemaVersion ?? 1,
    });
    out.fieldsAccepted += accepted;
    out.changesAccepted++;
    if (!p.written) {
      p.written = true;
      p.eventId = randomUUID();
      out.written.push(p);
    }
  });
  for (const p of out.written) checkSize(p);
  return out;
}

/**
 * Refuses the push (nothing is written: the transaction rolls back) when a record it writes
 * breaks a size limit of LIMITS: 413 RECORD_TOO_LARGE or 400 TOO_MANY_FIELDS, `path` naming
 * the change (and field). A record already over a limit stays editable (record-size.ts).
 */
function checkSize(p: Pending): void {
  const setAt = p.setAt!;
  const problem = sizeProblem(p.state!.data, p.before, setAt.keys());
  if (!problem) return;
  let last = 0;
  for (const n of setAt.values()) if (n > last) last = n;
  const path =
    problem.field === undefined
      ? `changes.${last}`
      : `changes.${setAt.get(problem.field)}.fields.${problem.field}`;
  throw new SyncError(problem.code, `${p.table}/${p.id}: ${problem.message}`, path);
}

function resultOf(input: PushInput, pageRows: PageRow[], merged: Merged, base: number): PushResult {
  const pageRowsRead = pageRows.length; // toPage trims the array to the page
  const current: Current | undefined =
    pageRows.length > 0 && merged.written.length > 0
      ? new Set(merged.written.map((p) => `${p.table}\u0000${p.id}`))
      : undefined;
  const page = toPage(pageRows, input.since, input.limit, input.clientId, {
    maxBytes: input.maxBytes ?? DEFAULT_PAGE_MAX_BYTES,
    tail: () => writtenChanges(merged.written, base, input.since, input.clientId),
    ...(current ? { current } : {}),
  });
  return {
    ...page,
    conflicts: merged.conflicts,
    tablesChanged: [...new Set(merged.written.map((p) => p.table))],
    changesAccepted: merged.changesAccepted,
    fieldsAccepted: merged.fieldsAccepted,
    recordsWritten: merged.written.length,
    pageRowsRead,
    indexProbes: 0,
    overtaken: false,
  };
}

type ReadRow = PageRow & StoredRow & { kind: 'u' | 'p' | 's' };

/**
 * The push in two statements (see the top of this file). Undefined: another push of the
 * user wrote between the read and the write, which then wrote nothing.
 */
async function pushUnlocked(db: Db, input: PushInput): Promise<PushResult | undefined> {
  const batch = batchOf(input.changes);
  // One statement, so one snapshot: the last position is the one the page and states had.
  const rows = await db.query<ReadRow>(sql`
    SELECT 'u' AS kind, NULL::text AS table_name, NULL::text AS record_id, NULL::jsonb AS data,
           NULL::jsonb AS field_timestamps, NULL::text AS last_client_id,
           NULL::jsonb AS field_writers, NULL::jsonb AS field_actors, NULL::jsonb AS field_types,
           NULL::uuid AS event_id,
           (extract(epoch FROM last_position) * 1000000)::int8::text AS position_us,
           NULL::int8 AS size, NULL::boolean AS cut, NULL::jsonb AS raw_keys, NULL::text AS raw_values,
           NULL::text AS created_us
    FROM sync_users WHERE user_id = ${input.userId}
    UNION ALL
    SELECT 'p', p.*, NULL::text FROM (${pageOf(input)}) p
    UNION ALL
    SELECT 's', s.table_name, s.record_id, s.data, s.field_timestamps, s.last_client_id,
           s.field_writers, s.field_actors, s.field_types, NULL::uuid, NULL::text, NULL::int8, NULL::boolean,
           NULL::jsonb, NULL::text, s.created_us
    FROM (${storedStatement(input, batch)}) s`);
  let observedUs: string | null = null;
  const pageRows: PageRow[] = [];
  const storedRows: StoredRow[] = [];
  for (const row of rows) {
    if (row.kind === 'p') pageRows.push(row);
    else if (row.kind === 's') storedRows.push(row);
    else observedUs = row.position_us;
  }
  // In position order, as the page statement returns them (UNION ALL keeps a branch's order
  // in practice; SQL does not promise it).
  if (pageRows.some((r, i) => i > 0 && Number(r.position_us) < Number(pageRows[i - 1]!.position_us)))
    pageRows.sort((a, b) => Number(a.position_us) - Number(b.position_us));
  const merged = merge(input, batch, storedRows);
  if (merged.written.length === 0) return resultOf(input, pageRows, merged, 0);
  const written = await db.query<{ base_us: string | number | bigint }>(
    writeStatement(input.userId, input.appId, input.clientId, { observedUs }, merged.written),
  );
  if (written.length === 0) return undefined;
  return resultOf(input, pageRows, merged, Number(written[0]!.base_us));
}

/** The push in one transaction that holds the user's row throughout (see the top of this file). */
async function pushLocked(tx: Db, input: PushInput): Promise<PushResult> {
  const { userId } = input;
  const batch = batchOf(input.changes);
  const count = batch.pending.size;
  // Pipelined (one round trip on PostgreSQL): the lock, then the page and the read of the
  // stored records, each a statement with its own snapshot taken after the lock is held, so
  // they see everything committed before it. The small statements go first: postgres.js
  // writes a pipeline in one go once it passes 1 KB, and the read of a big batch does.
  const [locked, pageRows, storedRows] = await tx.queryAll([
    reservePositions(userId, count),
    pageOf(input),
    storedStatement(input, batch),
  ]);
  const baseUs = Number((locked![0] as { base_us: string | number | bigint }).base_us);
  const merged = merge(input, batch, storedRows as unknown as StoredRow[]);
  if (merged.written.length > 0)
    await tx.query(writeStatement(userId, input.appId, input.clientId, { baseUs }, merged.written));
  return resultOf(input, pageRows as unknown as PageRow[], merged, baseUs);
}

/** The written records as page entries, in position order, those after `since` only. */
function writtenChanges(written: Pending[], base: number, since: Canonical, echo: string): PageEntry[] {
  const sinceUs = parseMicros(since)!;
  const out: PageEntry[] = [];
  written.forEach((p, k) => {
    const at = base + k * MICROSECOND;
    if (at <= sinceUs) return;
    const position = formatMicros(at);
    const change = toServerChange(p.table, p.id, p.state!, position, p.eventId, p.who, echo);
    out.push({ position, change, size: change ? JSON.stringify(change).length : 0 });
  });
  return out;
}
