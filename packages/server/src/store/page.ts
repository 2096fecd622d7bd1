import {
  type Canonical,
  formatMicros,
  type ServerChange,
  stateFrom,
  toServerChange,
  type ValueType,
} from '@mana/sync-protocol';
import { type Db, type Fragment, sql } from '../db/sql.js';
import type { PullResult } from './sync-store.js';
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
}

export interface PageQuery {
  userId: string;
  appId: string;
  table: string | null;
  since: Canonical;
  limit: number;
  /** The asking client: the fields it wrote itself are left out (null: none are). */
  echo?: string | null;
}

/** Merged records of the app (or one table) after `since`, oldest first, at most `limit`. */
export async function readPage(db: Db, q: PageQuery): Promise<PullResult> {
  return toPage(await db.query<PageRow>(pageStatement(q)), q.since, q.limit, q.echo ?? null);
}

export function pageStatement(q: PageQuery): Fragment {
  const since = sql`${q.since}::text::timestamptz`;
  const range = sql`updated_at > ${since}`;
  // The position leaves as exact integer microseconds and is formatted here: to_char (in
  // mana_cursor) costs several microseconds a row, the largest part of a 1,000-record page.
  const columns = sql`page.table_name, page.record_id, page.data, page.field_timestamps,
           page.last_client_id, page.field_writers, page.field_actors, page.field_types, page.event_id,
           (extract(epoch FROM page.updated_at) * 1000000)::int8::text AS position_us`;
  if (q.table !== null)
    return sql`
    SELECT ${columns}
    FROM sync_records page
    WHERE user_id = ${q.userId} AND app_id = ${q.appId} AND table_name = ${q.table} AND ${range}
    ORDER BY updated_at
    LIMIT ${q.limit + 1}`;
  // The whole app's page (a push's response) from the per-table index, table by table: the
  // app's tables by a loose index scan (one probe per table), the first limit + 1 records of
  // each after the cursor, and the first limit + 1 of those. An index on (user, app, position)
  // would serve it in one range scan, but every record write paid for keeping it: about a
  // seventh of PostgreSQL's CPU per change in the push benchmark (migration 0005). A client
  // far behind pays instead: up to limit + 1 rows read per table for one page.
  return sql`
    WITH RECURSIVE tables(name) AS (
      (SELECT table_name FROM sync_records
        WHERE user_id = ${q.userId} AND app_id = ${q.appId} ORDER BY table_name LIMIT 1)
      UNION ALL
      SELECT next.table_name FROM tables, LATERAL (
        SELECT table_name FROM sync_records
        WHERE user_id = ${q.userId} AND app_id = ${q.appId} AND table_name > tables.name
        ORDER BY table_name LIMIT 1) next
    )
    SELECT ${columns}
    FROM tables CROSS JOIN LATERAL (
      SELECT table_name, record_id, data, field_timestamps, last_client_id, field_writers,
             field_actors, field_types, event_id, updated_at
      FROM sync_records
      WHERE user_id = ${q.userId} AND app_id = ${q.appId} AND table_name = tables.name AND ${range}
      ORDER BY updated_at
      LIMIT ${q.limit + 1}) page
    ORDER BY page.updated_at
    LIMIT ${q.limit + 1}`;
}

/**
 * Rows of one page statement (at most limit + 1: the extra row only says there is more),
 * followed by `tail()` (entries after every row, already in position order) when it fits.
 * Records with nothing to send to `echo` are skipped, and the cursor still moves past them:
 * `syncedUntil` is the position of the last record read, sent or not.
 */
export function toPage(
  rows: PageRow[],
  since: Canonical,
  limit: number,
  echo: string | null,
  tail: () => PageEntry[] = () => [],
  current?: Current,
): PullResult {
  let hasMore = rows.length > limit;
  if (hasMore) rows.length = limit;
  const serverChanges: ServerChange[] = [];
  let syncedUntil = since;
  for (const r of rows) {
    const position = formatMicros(Number(r.position_us));
    // A record this push has just written: its row is older than the write (read before
    // it), so it is left out here and goes out at its new position, as written.
    const change = current?.has(`${r.table_name}\u0000${r.record_id}`)
      ? null
      : toServerChange(
          r.table_name,
          r.record_id,
          stateFrom(r.data, r.field_timestamps, r.field_types),
          position,
          r.event_id ?? position,
          writersFrom(r),
          echo,
        );
    if (change) serverChanges.push(change);
    syncedUntil = position;
  }
  if (!hasMore) {
    let read = rows.length;
    for (const entry of tail()) {
      if (read === limit) {
        hasMore = true;
        break;
      }
      read++;
      if (entry.change) serverChanges.push(entry.change);
      syncedUntil = entry.position;
    }
  }
  return { serverChanges, syncedUntil, hasMore };
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
}
