import {
  bare,
  type Canonical,
  type Change,
  formatMicros,
  type RecordState,
  type TimedValue,
} from '@mana/sync-protocol';
import { type Query, sql } from '../db/sql.js';

/** A record a push writes: its merged state, and the changes that made it (its log rows). */
export interface WrittenRecord {
  table: string;
  id: string;
  state: RecordState | undefined;
  /** Stored created_at in microseconds; undefined: the record is new. */
  createdUs: number | undefined;
  log: Array<{ op: Change['op']; fields: Record<string, TimedValue> }>;
}

/**
 * The written records and their log rows, as one statement: the batch goes out as one JSON
 * document that PostgreSQL parses once, and each record's position is computed there from its
 * place in the batch (base, base + 1 µs, …). Parsing the input was a large part of a write
 * (about 7 µs a row), and the two inserts used to parse it twice.
 *
 * - New records are a plain INSERT: the stored read already told them apart, and no other
 *   push of this user can add a record in between (the user's row lock), so the speculative
 *   insertion an upsert makes for a new row is wasted work. Stored ones are upserted: its
 *   conflict check is one primary-key probe per row whatever the planner thinks of the user's
 *   size (an UPDATE … FROM join may hash all their records).
 * - A new record written by one change (the common case) logs exactly its merged state, so
 *   its log row reuses the record's columns (`l` null); any other record carries its log
 *   entries in `l`.
 */
export function writeStatement(
  userId: string,
  appId: string,
  clientId: string,
  base: number,
  written: WrittenRecord[],
): Query {
  const rows = written.map((p) => {
    const logIsState = p.createdUs === undefined && p.log.length === 1;
    return {
      t: p.table,
      i: p.id,
      d: p.state!.data,
      f: p.state!.fieldTimestamps,
      s: p.createdUs !== undefined,
      o: logIsState ? p.log[0]!.op : null,
      l: logIsState ? null : p.log.map(logEntry),
    };
  });
  // A scalar subquery is computed once per statement; the cast alone ran per row and column.
  const position = sql`(SELECT ${formatMicros(base)}::text::timestamptz) + (x.n - 1) * interval '1 microsecond'`;
  const record = sql`${userId}, ${appId}, x.t, x.i, x.d, x.f, ${position}, ${position}, ${clientId}`;
  return sql`
    WITH x AS MATERIALIZED (
      SELECT * FROM ROWS FROM (
        jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
          AS (t text, i text, d jsonb, f jsonb, s boolean, o text, l jsonb)
      ) WITH ORDINALITY AS x(t, i, d, f, s, o, l, n)
    ),
    fresh AS (
      INSERT INTO sync_records
        (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
      SELECT ${record} FROM x WHERE NOT x.s
    ),
    stored AS (
      INSERT INTO sync_records AS r
        (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
      SELECT ${record} FROM x WHERE x.s
      ON CONFLICT (user_id, app_id, table_name, record_id) DO UPDATE
        SET data = excluded.data, field_timestamps = excluded.field_timestamps,
            updated_at = excluded.updated_at, last_client_id = excluded.last_client_id
        WHERE r.user_id = ${userId}
    )
    INSERT INTO sync_changes (user_id, app_id, table_name, record_id, op, data, field_timestamps, client_id)
    SELECT ${userId}, ${appId}, x.t, x.i, x.o, x.d, x.f, ${clientId} FROM x WHERE x.l IS NULL
    UNION ALL
    SELECT ${userId}, ${appId}, x.t, x.i, e.o, e.d, e.f, ${clientId}
    FROM x CROSS JOIN LATERAL jsonb_to_recordset(x.l) AS e(o text, d jsonb, f jsonb)
    WHERE x.l IS NOT NULL`;
}

/** One log row: the change's accepted fields, values and timestamps apart (the seed's columns). */
function logEntry(l: WrittenRecord['log'][number]) {
  const d = bare<unknown>();
  const f = bare<Canonical>();
  for (const [field, v] of Object.entries(l.fields)) {
    d[field] = v.value;
    f[field] = v.updatedAt;
  }
  return { o: l.op, d, f };
}
