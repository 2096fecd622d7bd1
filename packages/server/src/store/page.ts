import {
  type Canonical,
  formatMicros,
  type ServerChange,
  stateFrom,
  toServerChange,
  type ValueType,
} from '@mana/sync-protocol';
import { asBytes, type Db, type Fragment, sql } from '../db/sql.js';
import { type Piece, placeholder, spliceRaw, splitRaw } from './raw-change.js';
import type { PageRead, PullResult } from './types.js';
import { type WritersRow, writersFrom } from './writers.js';

/** Pages of merged records after a cursor: a pull's answer, and the page of a push's answer. */

export interface RecordRow extends WritersRow {
  table_name: string;
  record_id: string;
  data: Record<string, unknown>;
  field_timestamps: Record<string, string>;
  /** Field → value type (migration 0008); null when no field has one. */
  field_types: Record<string, ValueType> | null;
}

export interface PageRow extends RecordRow {
  /** updated_at in integer microseconds since the epoch, as text (exact in both drivers). */
  position_us: string;
  /** The record's latest log row (null: written before migration 0006). */
  event_id: string | null;
  /**
   * The row is past the page's byte budget: it only says there is more (its data and field
   * times are left out, null). At most one, and last.
   */
  cut: boolean | null;
  /** The row's JSON text in bytes (about), counted toward the budget. */
  size: number | string | null;
  /**
   * A large row (over RAW_ROW_BYTES): the fields whose values come as text (`raw_values`,
   * joined by U+0001) and are left out of `data`. Null for other rows.
   */
  raw_keys: string[] | null;
  /** A string, or its UTF-8 bytes where the driver hands them over (Query.bytes). */
  raw_values: Piece | null;
}

/**
 * Rows larger than this (their JSON text) send their large values (over RAW_VALUE_BYTES) as
 * the database's JSON text, never parsed (raw-change.ts). Why not every row: splitting a row's
 * values in SQL costs more than parsing a small row, the case of nearly every page.
 */
const RAW_ROW_BYTES = 64 * 1024;
const RAW_VALUE_BYTES = 1024;

/**
 * The byte budget of a page (PAGE_MAX_BYTES): a page stops at it as well as at its `limit`.
 * Why: a count alone let 30 records of 10 MB make a 300 MB answer, and 60 a string longer
 * than V8 allows (500). A record larger than the budget still goes out, alone. The answer is
 * then written out piece by piece (raw-change.ts: a large record's large values go out as the
 * database's text, never parsed nor serialized again), so a page is in memory about once, at
 * most the budget or one record, never the user's data.
 */
export const DEFAULT_PAGE_MAX_BYTES = 4 * 1024 * 1024;

interface PageQuery {
  userId: string;
  appId: string;
  table: string | null;
  since: Canonical;
  limit: number;
  /** The asking client: the fields it wrote itself are left out (null: none are). */
  echo?: string | null;
  /** The page's byte budget (default DEFAULT_PAGE_MAX_BYTES). */
  maxBytes?: number;
}

/** Merged records of the app (or one table) after `since`, oldest first, at most `limit`. */
export async function readPage(db: Db, q: PageQuery): Promise<PageRead> {
  const rows = await db.query<PageRow>(asBytes(pageStatement(q), ['raw_values']));
  const rowsRead = rows.length; // toPage trims the array to the page
  const page = toPage(rows, q.since, q.limit, q.echo ?? null, {
    maxBytes: q.maxBytes ?? DEFAULT_PAGE_MAX_BYTES,
  });
  return { ...page, rowsRead };
}

export function pageStatement(q: PageQuery): Fragment {
  const since = sql`${q.since}::text::timestamptz`;
  const range = sql`updated_at > ${since}`;
  const inner =
    q.table !== null
      ? sql`
      SELECT table_name, record_id, data, field_timestamps, last_client_id, field_writers,
             field_actors, field_types, event_id, updated_at
      FROM sync_records
      WHERE user_id = ${q.userId} AND app_id = ${q.appId} AND table_name = ${q.table} AND ${range}
      ORDER BY updated_at
      LIMIT ${q.limit + 1}`
      : appPage(q, range);
  return budgeted(inner, q.maxBytes ?? DEFAULT_PAGE_MAX_BYTES);
}

/**
 * The page's rows within `maxBytes` (always the first), then the first row past it as a
 * marker (`cut`, without data), by a running sum over the at most limit + 1 rows read. A
 * row's size is its JSON text (about what the answer carries), measured on those rows only:
 * the rows past the budget never leave the database, so a page in memory is at most the
 * budget or one record. Measuring means serializing the row, so a row is measured only while
 * the stored sizes before it and its own (`stored`: free) are within the budget; a row past
 * that is taken as past it (alone on its page, or the next page's first). Why: 60 records of
 * 10 MB (one a page) were each serialized for every page, and each page's own 10 MB record
 * once more just to learn it was over the budget.
 * A page may so end somewhat before the budget (jsonb's binary form of small values is larger
 * than their text; compressed values count ten times their stored size), never after it.
 */
function budgeted(inner: Fragment, maxBytes: number): Fragment {
  const budget = sql`${maxBytes}::text::int8`;
  // The position leaves as exact integer microseconds and is formatted here: to_char (in
  // mana_cursor) costs several microseconds a row, the largest part of a 1,000-record page.
  // A large row: its large values as text joined by U+0001, which jsonb's text never holds
  // (it escapes every control character), and its other fields in `data`, in one pass over
  // its fields (each reading of a large jsonb decompresses it). The aggregates take the fields
  // in the one order jsonb_each gives them, so keys and texts match; an ORDER BY in them
  // sorted the 10 MB texts, spilling past work_mem to temporary files (PGlite: in memory,
  // seconds a page). deletedAt stays in `data`: whether the record is deleted is read from it.
  const raw = sql`NOT page.cut AND page.size > ${RAW_ROW_BYTES}::text::int8`;
  return sql`
    SELECT page.table_name, page.record_id,
           CASE WHEN page.cut THEN NULL WHEN big.keys IS NULL THEN page.data ELSE big.rest END AS data,
           CASE WHEN page.cut THEN NULL ELSE page.field_timestamps END AS field_timestamps,
           page.last_client_id, page.field_writers, page.field_actors, page.field_types, page.event_id,
           (extract(epoch FROM page.updated_at) * 1000000)::int8::text AS position_us,
           page.size, page.cut, big.keys AS raw_keys, big.texts AS raw_values
    FROM (
      SELECT w.*, NOT (w.n = 1 OR w.running <= ${budget}) AS cut
      FROM (
        SELECT s.*, row_number() OVER o AS n, sum(s.size) OVER o AS running
        FROM (
          SELECT c.*,
                 CASE WHEN c.stored_before <= ${budget} AND c.stored <= ${budget}
                   THEN octet_length(c.data::text) + octet_length(c.field_timestamps::text)
                   ELSE ${budget} + 1 END AS size
          FROM (
            SELECT r.*, sum(r.stored) OVER o - r.stored AS stored_before
            FROM (
              SELECT i.*, ${stored} AS stored FROM (${inner}) i
            ) r
            WINDOW o AS (ORDER BY r.updated_at ROWS UNBOUNDED PRECEDING)
          ) c
        ) s
        WINDOW o AS (ORDER BY s.updated_at ROWS UNBOUNDED PRECEDING)
      ) w
      WHERE w.n <= 2 OR w.running - w.size <= ${budget}
    ) page
    LEFT JOIN LATERAL (
      SELECT jsonb_agg(v.key) FILTER (WHERE v.raw) AS keys,
             string_agg(v.text, chr(1)) FILTER (WHERE v.raw) AS texts,
             coalesce(jsonb_object_agg(v.key, v.value) FILTER (WHERE NOT v.raw), '{}') AS rest
      FROM (
        SELECT e.key, e.value, t.text,
               octet_length(t.text) > ${RAW_VALUE_BYTES}::text::int8 AND e.key <> 'deletedAt' AS raw
        FROM jsonb_each(page.data) e CROSS JOIN LATERAL (SELECT e.value::text AS text) t
      ) v
      WHERE ${raw}
    ) big ON ${raw}
    ORDER BY page.updated_at`;
}

/**
 * A row's stored size, cheap to know (its varlena header), as an estimate of its text:
 * a compressed value (a large one, in TOAST or inline) counts ten times its stored size. Why:
 * a value of one repeated character compresses about 90 times; ten keeps the values that do
 * compress (notes: two to four times) from making a page much shorter than the budget, while
 * a page of repeated characters serializes about ten records to find its end, not all of them.
 */
const stored = sql`
  pg_column_size(i.data) * CASE WHEN pg_column_compression(i.data) IS NULL THEN 1 ELSE 10 END
  + pg_column_size(i.field_timestamps)
    * CASE WHEN pg_column_compression(i.field_timestamps) IS NULL THEN 1 ELSE 10 END`;

/**
 * The whole app's page (a push's response) from the per-table index, at a cost of O(page +
 * tables), not O(tables × page). An index on (user, app, position) would serve it in one range
 * scan, but every record write paid for keeping it: about a seventh of PostgreSQL's CPU per
 * change in the push benchmark (migration 0005). So the page is a merge of the tables' ordered
 * runs, in SQL:
 *   1. the app's tables by a loose index scan (one probe per table), and each table's first
 *      position after the cursor (its head: one probe more);
 *   2. `merge`: the heads, kept sorted in arrays (one row per step). Each step takes the run
 *      of the table with the first head: its positions from its head up to (not including)
 *      the next table's head, at most the rows the page still lacks. No other table has a
 *      record in between (positions are unique per user), so the run is the page's next rows,
 *      in order. The table's head moves past the run (one probe), and the arrays are sorted
 *      again. A step reads its run's rows and costs O(tables) in memory; it ends when the
 *      page is full or every table is done;
 *   3. the rows of each run, by a range scan of its table.
 * Tables written one after another (how apps write) make few runs; perfectly interleaved
 * tables make one a row, still reading only the page's rows.
 */
function appPage(q: PageQuery, range: Fragment): Fragment {
  const mine = sql`user_id = ${q.userId} AND app_id = ${q.appId}`;
  return sql`
    WITH RECURSIVE tables(name) AS (
      (SELECT table_name FROM sync_records WHERE ${mine} ORDER BY table_name LIMIT 1)
      UNION ALL
      SELECT next.table_name FROM tables, LATERAL (
        SELECT table_name FROM sync_records
        WHERE ${mine} AND table_name > tables.name
        ORDER BY table_name LIMIT 1) next
    ),
    heads AS (
      SELECT array_agg(tables.name ORDER BY head.at) AS names, array_agg(head.at ORDER BY head.at) AS ats
      FROM tables CROSS JOIN LATERAL (
        SELECT updated_at AS at FROM sync_records
        WHERE ${mine} AND table_name = tables.name AND ${range}
        ORDER BY updated_at LIMIT 1) head
    ),
    merge(names, ats, wanted, run_table, run_from, run_to) AS (
      SELECT names, ats, ${q.limit + 1}::int8, NULL::text COLLATE "C", NULL::timestamptz, NULL::timestamptz
      FROM heads WHERE names IS NOT NULL
      UNION ALL
      SELECT sorted.names, sorted.ats, m.wanted - run.n, m.names[1], m.ats[1], run.last
      FROM merge m
      CROSS JOIN LATERAL (
        SELECT count(*) AS n, max(r.updated_at) AS last FROM (
          SELECT updated_at FROM sync_records
          WHERE ${mine} AND table_name = m.names[1] AND updated_at >= m.ats[1]
            AND (cardinality(m.ats) = 1 OR updated_at < m.ats[2])
          ORDER BY updated_at LIMIT m.wanted) r
      ) run
      LEFT JOIN LATERAL (
        SELECT updated_at AS at FROM sync_records
        WHERE ${mine} AND table_name = m.names[1] AND updated_at > run.last
        ORDER BY updated_at LIMIT 1
      ) head ON m.wanted > run.n
      CROSS JOIN LATERAL (
        SELECT array_agg(h.name ORDER BY h.at) AS names, array_agg(h.at ORDER BY h.at) AS ats
        FROM (
          SELECT unnest(m.names[2:]) AS name, unnest(m.ats[2:]) AS at
          UNION ALL
          SELECT m.names[1], head.at WHERE head.at IS NOT NULL
        ) h
      ) sorted
      WHERE m.wanted > 0 AND m.names IS NOT NULL
    )
    SELECT page.*
    FROM merge CROSS JOIN LATERAL (
      SELECT table_name, record_id, data, field_timestamps, last_client_id, field_writers,
             field_actors, field_types, event_id, updated_at
      FROM sync_records
      WHERE ${mine} AND table_name = merge.run_table
        AND updated_at >= merge.run_from AND updated_at <= merge.run_to
      ORDER BY updated_at) page
    WHERE merge.run_table IS NOT NULL
    ORDER BY page.updated_at
    LIMIT ${q.limit + 1}`;
}

/** How a page ends besides its limit, and what follows its rows (a push's answer). */
interface PageOptions {
  /** The byte budget: rows stop once it is reached; the first row goes out whatever its size. */
  maxBytes: number;
  /** Entries after every row, already in position order (a push's own writes). */
  tail?: () => PageEntry[];
  current?: Current;
}

/**
 * Rows of one page statement (at most limit + 1, and within the byte budget: an extra row,
 * or a `cut` one, only says there is more), followed by `tail()` while it fits both.
 * Records with nothing to send to `echo` are skipped, and the cursor still moves past them:
 * `syncedUntil` is the position of the last record read, sent or not.
 */
export function toPage(
  rows: PageRow[],
  since: Canonical,
  limit: number,
  echo: string | null,
  { maxBytes, tail, current }: PageOptions,
): PullResult {
  let hasMore = rows.length > limit;
  if (hasMore) rows.length = limit;
  if (rows.length > 0 && rows[rows.length - 1]!.cut) {
    rows.length--;
    hasMore = true;
  }
  const serverChanges: ServerChange[] = [];
  let syncedUntil = since;
  let bytes = 0;
  for (const r of rows) {
    const position = formatMicros(Number(r.position_us));
    // A record this push has just written: its row is older than the write (read before
    // it), so it is left out here and goes out at its new position, as written.
    const change = current?.has(`${r.table_name}\u0000${r.record_id}`) ? null : rowChange(r, position, echo);
    if (change) serverChanges.push(change);
    syncedUntil = position;
    bytes += Number(r.size ?? 0);
  }
  if (!hasMore && tail) {
    let read = rows.length;
    for (const entry of tail()) {
      if (read === limit || (read > 0 && bytes + entry.size > maxBytes)) {
        hasMore = true;
        break;
      }
      read++;
      bytes += entry.size;
      if (entry.change) serverChanges.push(entry.change);
      syncedUntil = entry.position;
    }
  }
  return { serverChanges, syncedUntil, hasMore };
}

/**
 * The change of a page row for `echo`, or null. A large row's raw values stand as placeholders
 * while toServerChange applies its rules, then go into its JSON as the text they came as.
 */
function rowChange(r: PageRow, position: Canonical, echo: string | null): ServerChange | null {
  let data = r.data;
  const raws = r.raw_keys !== null && r.raw_values !== null ? splitRaw(r.raw_values) : null;
  if (raws) {
    // Without a prototype: a field named `__proto__` is then set like any other.
    data = Object.assign(Object.create(null) as Record<string, unknown>, data);
    r.raw_keys!.forEach((key, i) => {
      data[key] = placeholder(i);
    });
  }
  const change = toServerChange(
    r.table_name,
    r.record_id,
    stateFrom(data, r.field_timestamps, r.field_types),
    position,
    r.event_id ?? position,
    writersFrom(r),
    echo,
  );
  return change && raws ? spliceRaw(change, raws) : change;
}

/**
 * A push's answer: the keys (table NUL id) of the records it has just written. Their page rows
 * were read before the write, so they are skipped (the cursor still moves past them) and the
 * records go out at their new positions, as written: never an older value of a field the
 * client has just set, and a record at most once in an answer.
 */
export type Current = ReadonlySet<string>;

/** A record of a page built in memory (a push's own writes): its change, if any to send. */
export interface PageEntry {
  position: Canonical;
  change: ServerChange | null;
  /** Bytes it counts toward the page's budget (its change as JSON, about; 0 without one). */
  size: number;
}
