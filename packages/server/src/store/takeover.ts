import {
  type Actor,
  type Canonical,
  type Change,
  canonicalize,
  changeFields,
  type FieldWriters,
  formatMicros,
  mergeFields,
  type RecordState,
  stateFrom,
  type ValueType,
} from '@mana/sync-protocol';
import { type Db, type Fragment, sql } from '../db/sql.js';
import { reservePositions } from './positions.js';
import { POSITION, RECORD_COLUMNS, replaceStored, typesOf } from './write-statement.js';
import { markWritten, type WritersRow, writersFrom } from './writers.js';

/**
 * The takeover of the Go mana-sync service's database: its log rows (`sync_changes`, the only
 * table it kept) merged into this server's state (`sync_records`), in place.
 *
 * The Go service's rows carry `merged = false` (migration 0006's default); this server writes
 * `true` with every log row it appends. For each user with unmerged rows, in batches ordered
 * by (created_at, id), one transaction per batch:
 *   1. take the user's `sync_users` row, as a push under the lock does (pushes of the user wait)
 *   2. read the batch, and the stored state of the records it touches
 *   3. merge in memory, row by row, under the protocol's field-level LWW
 *   4. write the records at positions reserved after the user's last position and after every
 *      Go row's created_at, and set `merged = true` on exactly the batch's rows
 * No log row is added: the Go rows are the log, and a record's eventId is the id of the Go row
 * of its latest accepted change.
 *
 * Devices of the Go service hold, per table, the created_at of the last Go row they received
 * as their cursor. Every record written here gets a position later than every Go row of its
 * user, so each device receives each record (again, for those it had: applying is idempotent)
 * from whatever cursor it holds, less the fields it wrote itself (the echo rule, with the Go
 * row's client_id as the writer).
 *
 * A batch commits whole or not at all, so a crash loses nothing and the next run carries on
 * where the last commit left; a run with nothing unmerged does nothing. Rows the Go service
 * writes after a run (it should be stopped first) are merged by the next one. Memory holds
 * one batch and its records.
 *
 * Go's timestamps are taken as the Go service accepted them: a field without an entry in
 * `field_timestamps` has its row's created_at; a `delete` row soft-deletes at its
 * `data.deletedAt`, else its created_at; no clock-skew clamp (the devices hold these times).
 * Rows with a `space_id` (shared spaces, not served yet) are merged as their author's
 * (`user_id`) and counted.
 */

export interface TakeoverOptions {
  /** Go rows per transaction. */
  batchSize?: number;
  /** Where progress lines and the summary go (the server's pino logger). */
  logger?: TakeoverLogger;
  /** Progress lines at most this often (the summary always). */
  progressEveryMs?: number;
  /**
   * Runs inside each batch's transaction after its writes, before the commit. Tests throw
   * here to crash a takeover midway.
   */
  beforeCommit?: (batch: { userId: string; rows: number }) => void | Promise<void>;
}

interface TakeoverLogger {
  info(obj: object, msg: string): void;
}

export interface TakeoverResult {
  /** Users whose rows were merged. */
  users: number;
  /** Go rows merged (set `merged = true`). */
  rows: number;
  /** Record writes (a record touched by several batches counts once per batch). */
  recordsWritten: number;
  /** Rows with a space_id, merged as their author's. */
  spaceRows: number;
  ms: number;
}

const DEFAULT_BATCH = 1000;

/** Users with unmerged Go rows, and how many rows in all. */
async function pendingUsers(db: Db): Promise<{ users: string[]; rows: number }> {
  // The one read across users: through the maintenance bypass (db.maintenance()).
  return db.maintenance().transaction(async (tx) => {
    // A loose index scan of sync_changes_unmerged: one probe per user, not one per row.
    const users = await tx.query<{ user_id: string }>(sql`
      WITH RECURSIVE u(user_id) AS (
        (SELECT user_id FROM sync_changes WHERE NOT merged ORDER BY user_id LIMIT 1)
        UNION ALL
        SELECT (SELECT s.user_id FROM sync_changes s
                WHERE NOT s.merged AND s.user_id > u.user_id ORDER BY s.user_id LIMIT 1)
        FROM u WHERE u.user_id IS NOT NULL
      )
      SELECT user_id FROM u WHERE user_id IS NOT NULL`);
    const [count] = await tx.query<{ n: string }>(
      sql`SELECT count(*)::text AS n FROM sync_changes WHERE NOT merged`,
    );
    return { users: users.map((u) => u.user_id), rows: Number(count?.n ?? 0) };
  });
}

export async function takeOver(db: Db, opts: TakeoverOptions = {}): Promise<TakeoverResult> {
  const started = performance.now();
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const everyMs = opts.progressEveryMs ?? 2000;
  const { users, rows: rowsTotal } = await pendingUsers(db);
  const result: TakeoverResult = { users: 0, rows: 0, recordsWritten: 0, spaceRows: 0, ms: 0 };
  if (users.length === 0) return result;
  const log = opts.logger;
  log?.info({ users: users.length, rows: rowsTotal }, 'takeover: merging the Go service rows');
  let lastLine = performance.now();
  for (const userId of users) {
    for (;;) {
      const batch = await db
        .forUser(userId)
        .transaction((tx) => mergeBatch(tx, userId, batchSize, opts.beforeCommit));
      result.rows += batch.rows;
      result.recordsWritten += batch.recordsWritten;
      result.spaceRows += batch.spaceRows;
      if (batch.rows < batchSize) break;
      if (log && performance.now() - lastLine >= everyMs) {
        lastLine = performance.now();
        log.info(progressOf(result, users.length, rowsTotal, started), 'takeover: progress');
      }
    }
    result.users++;
    if (log && performance.now() - lastLine >= everyMs) {
      lastLine = performance.now();
      log.info(progressOf(result, users.length, rowsTotal, started), 'takeover: progress');
    }
  }
  result.ms = Math.round(performance.now() - started);
  log?.info(
    { ...progressOf(result, users.length, rowsTotal, started), recordsWritten: result.recordsWritten },
    `takeover: done; ${result.spaceRows} rows with a space_id merged as their author's`,
  );
  return result;
}

function progressOf(r: TakeoverResult, usersTotal: number, rowsTotal: number, started: number) {
  const seconds = (performance.now() - started) / 1000;
  return {
    usersDone: r.users,
    usersTotal,
    rows: r.rows,
    rowsTotal,
    rowsPerSecond: Math.round(r.rows / Math.max(seconds, 0.001)),
    spaceRows: r.spaceRows,
  };
}

/** One Go row, as read. */
interface GoRow {
  id: string;
  app_id: string;
  table_name: string;
  record_id: string;
  op: string;
  data: unknown;
  field_timestamps: unknown;
  client_id: string | null;
  actor: unknown;
  space_id: string | null;
  /** created_at in integer microseconds since the epoch, as text. */
  created_us: string;
}

interface StoredRow extends WritersRow {
  app_id: string;
  table_name: string;
  record_id: string;
  data: Record<string, unknown>;
  field_timestamps: Record<string, string>;
  field_types: Record<string, ValueType> | null;
}

/** One record a batch touches. */
interface Pending {
  app: string;
  table: string;
  id: string;
  state: RecordState | undefined;
  who: FieldWriters | undefined;
  eventId: string;
  written: boolean;
}

const key = (app: string, table: string, id: string) => `${app}\u0000${table}\u0000${id}`;

/** Merges the user's next `size` unmerged rows, in the caller's transaction. */
async function mergeBatch(
  tx: Db,
  userId: string,
  size: number,
  beforeCommit: TakeoverOptions['beforeCommit'],
): Promise<{ rows: number; recordsWritten: number; spaceRows: number }> {
  // As the user (db.forUser: row-level security shows only that user's rows): the user's
  // row, held to the commit so that the user's pushes wait, then the batch: read after
  // the lock, it sees everything committed before.
  const [, read] = await tx.queryAll([
    sql`
      INSERT INTO sync_users AS u (user_id, last_position) VALUES (${userId}, 'epoch')
      ON CONFLICT (user_id) DO UPDATE SET last_position = u.last_position`,
    sql`
      SELECT id::text AS id, app_id, table_name, record_id, op, data, field_timestamps, client_id,
             actor, space_id, (extract(epoch FROM created_at) * 1000000)::int8::text AS created_us
      FROM sync_changes
      WHERE user_id = ${userId} AND NOT merged
      ORDER BY created_at, id
      LIMIT ${size}`,
  ]);
  const rows = read as unknown as GoRow[];
  if (rows.length === 0) return { rows: 0, recordsWritten: 0, spaceRows: 0 };

  const pending = new Map<string, Pending>();
  for (const r of rows) {
    const k = key(r.app_id, r.table_name, r.record_id);
    if (!pending.has(k))
      pending.set(k, {
        app: r.app_id,
        table: r.table_name,
        id: r.record_id,
        state: undefined,
        who: undefined,
        eventId: '',
        written: false,
      });
  }
  const keys = JSON.stringify([...pending.values()].map((p) => ({ a: p.app, t: p.table, i: p.id })));
  const stored = await tx.query<StoredRow>(sql`
    SELECT r.app_id, r.table_name, r.record_id, r.data, r.field_timestamps, r.last_client_id,
           r.field_writers, r.field_actors, r.field_types
    FROM jsonb_to_recordset(${keys}::text::jsonb) AS k(a text, t text, i text)
    CROSS JOIN LATERAL (
      SELECT * FROM sync_records s
      WHERE s.user_id = ${userId} AND s.app_id = k.a AND s.table_name = k.t AND s.record_id = k.i
      LIMIT 1
    ) r`);
  for (const s of stored) {
    const p = pending.get(key(s.app_id, s.table_name, s.record_id))!;
    // A Go row carries no types: a field it overwrites loses its type (mergeFields).
    p.state = stateFrom(s.data, s.field_timestamps, s.field_types);
    p.who = writersFrom(s);
  }

  const written: Pending[] = [];
  let spaceRows = 0;
  let lastUs = 0;
  for (const r of rows) {
    if (r.space_id !== null) spaceRows++;
    const createdUs = Number(r.created_us);
    if (createdUs > lastUs) lastUs = createdUs;
    const p = pending.get(key(r.app_id, r.table_name, r.record_id))!;
    // The row's own time, its microseconds as they are: no clamp, nothing is "ahead" of it.
    const fields = changeFields(goChange(r, formatMicros(createdUs)), {
      nowMicros: createdUs,
      maxSkewMicros: Number.MAX_SAFE_INTEGER - createdUs,
    });
    const merged = mergeFields(p.state, fields);
    if (Object.keys(merged.accepted).length === 0) continue;
    p.state = merged.state;
    p.who = markWritten(
      p.who,
      merged.state.fieldTimestamps,
      merged.accepted,
      r.client_id ?? '',
      actorOf(r.actor),
    );
    p.eventId = r.id;
    if (!p.written) {
      p.written = true;
      written.push(p);
    }
  }

  const ids = JSON.stringify(rows.map((r) => r.id));
  const first = formatMicros(Number(rows[0]!.created_us));
  const last = formatMicros(Number(rows.at(-1)!.created_us));
  // Exactly the rows read: by id, within the batch's created_at range (the partial index).
  const markMerged = sql`
    UPDATE sync_changes SET merged = true
    WHERE user_id = ${userId} AND NOT merged
      AND created_at BETWEEN ${first}::text::timestamptz AND ${last}::text::timestamptz
      AND id IN (SELECT jsonb_array_elements_text(${ids}::text::jsonb)::uuid)`;
  if (written.length === 0) await tx.query(markMerged);
  else await tx.query(writeStatement(userId, written, formatMicros(lastUs), markMerged));
  await beforeCommit?.({ userId, rows: rows.length });
  return { rows: rows.length, recordsWritten: written.length, spaceRows };
}

/**
 * The written records at reserved positions, and the batch's rows marked merged, as one
 * statement. Positions are base, base + 1 µs, … where base is after the user's last position,
 * after now, and after the batch's newest created_at (a Go row's created_at is what a device
 * holds as its cursor).
 */
function writeStatement(userId: string, written: Pending[], newest: Canonical, markMerged: Fragment) {
  const n = written.length;
  const rows = written.map((p) => ({
    a: p.app,
    t: p.table,
    i: p.id,
    d: p.state!.data,
    f: p.state!.fieldTimestamps,
    c: p.who!.writer,
    w: p.who!.writers,
    ac: p.who!.actors,
    y: typesOf(p.state!.fieldTypes),
    e: p.eventId,
  }));
  return sql`
    WITH lock AS (${reservePositions(userId, n, { notBefore: newest })}),
    x AS MATERIALIZED (
      SELECT * FROM ROWS FROM (
        jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
          AS (a text, t text, i text, d jsonb, f jsonb, c text, w jsonb, ac jsonb, y jsonb, e uuid)
      ) WITH ORDINALITY AS x(a, t, i, d, f, c, w, ac, y, e, n)
    ),
    records AS (
      INSERT INTO sync_records AS r ${RECORD_COLUMNS}
      SELECT ${userId}, x.a, x.t, x.i, x.d, x.f, ${POSITION}, ${POSITION}, x.c, x.w, x.ac, x.y, x.e
      FROM x CROSS JOIN lock
      ${replaceStored(userId)}
    ),
    merged AS (${markMerged})
    SELECT 1 FROM lock`;
}

/**
 * A Go row as a change: `data` holds the values, `field_timestamps` their times (created_at
 * where it names none, or not a time); a `delete` soft-deletes at `data.deletedAt`, else at
 * created_at, and sets nothing else (as the web app applies a delete).
 */
function goChange(r: GoRow, createdAt: Canonical): Change {
  const data = isObject(r.data) ? r.data : {};
  if (r.op === 'delete') {
    const at = typeof data.deletedAt === 'string' ? canonicalize(data.deletedAt) : null;
    return { table: r.table_name, id: r.record_id, op: 'delete', deletedAt: at ?? createdAt };
  }
  const times = isObject(r.field_timestamps) ? r.field_timestamps : {};
  const fields: NonNullable<Change['fields']> = {};
  for (const field of Object.keys(data)) {
    const t = times[field];
    const at = typeof t === 'string' ? canonicalize(t) : null;
    Object.defineProperty(fields, field, {
      value: { value: data[field] ?? null, updatedAt: at ?? createdAt },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { table: r.table_name, id: r.record_id, op: r.op === 'insert' ? 'insert' : 'update', fields };
}

function actorOf(a: unknown): Actor | null {
  return isObject(a) ? a : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
