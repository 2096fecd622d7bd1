import {
  type Actor,
  bare,
  type Canonical,
  type Change,
  type FieldWriters,
  formatMicros,
  type RecordState,
  type TimedValue,
  type ValueType,
} from '@mana/sync-protocol';
import { type Fragment, type Query, sql } from '../db/sql.js';
import { reservePositions } from './positions.js';

/** A record a push writes: its merged state, and the changes that made it (its log rows). */
export interface WrittenRecord {
  table: string;
  id: string;
  state: RecordState | undefined;
  /** Who wrote its fields (writers.ts). */
  who: FieldWriters | undefined;
  /** The id of its latest log row: the record's eventId. */
  eventId: string;
  /** Stored created_at in microseconds; undefined: the record is new. */
  createdUs: number | undefined;
  log: Array<{
    op: Change['op'];
    fields: Record<string, TimedValue>;
    actor: Actor | null;
    schemaVersion: number;
  }>;
}

/**
 * Where the written records' positions come from: `{ baseUs }`, reserved already by the
 * push's transaction (it holds the user's row); or `{ observedUs }`, the user's
 * `last_position` as read before the merge (null: the user had no row), in which case the
 * statement takes the user's row itself and writes only if that position is unchanged.
 */
type WriteBase = { baseUs: number } | { observedUs: string | null };

/**
 * The written records and their log rows, as one statement: the batch goes out as one JSON
 * document that PostgreSQL parses once, and each record's position is computed there from its
 * place in the batch (base, base + 1 µs, …). Parsing the input was a large part of a write
 * (about 7 µs a row), and the two inserts used to parse it twice. Returns one row, the base
 * position in integer microseconds, or, for an `observedUs` base whose user has moved on
 * (another push of the user wrote since it was read), no row and no write at all: every
 * insert takes its rows joined with the user's row, so an empty `lock` writes nothing.
 *
 * - New records are a plain INSERT: the stored read already told them apart, and no other
 *   push of this user can add a record in between (the user's row lock, or an unchanged
 *   position), so the speculative insertion an upsert makes for a new row is wasted work.
 *   Stored ones are upserted: its conflict check is one primary-key probe per row whatever
 *   the planner thinks of the user's size (an UPDATE … FROM join may hash all their records).
 * - A new record written by one change (the common case) logs exactly its merged state, so
 *   its log row reuses the record's columns (`l` null); any other record carries its log
 *   entries in `l`.
 */
export function writeStatement(
  userId: string,
  appId: string,
  clientId: string,
  base: WriteBase,
  written: WrittenRecord[],
): Query {
  const rows = written.map((p) => {
    const logIsState = p.createdUs === undefined && p.log.length === 1;
    const only = p.log[0]!;
    const last = p.log.length - 1;
    return {
      t: p.table,
      i: p.id,
      d: p.state!.data,
      f: p.state!.fieldTimestamps,
      w: p.who!.writers,
      a: p.who!.actors,
      y: typesOf(p.state!.fieldTypes),
      e: p.eventId,
      s: p.createdUs !== undefined,
      o: logIsState ? only.op : null,
      la: logIsState ? only.actor : null,
      lv: logIsState ? only.schemaVersion : null,
      // The last log row is the record's event; the others get ids of their own.
      l: logIsState ? null : p.log.map((entry, n) => logEntry(entry, n === last ? p.eventId : null)),
    };
  });
  // A reserved base is cast once here; the cast in each row's position ran per row and column.
  // Otherwise the user's row is taken here (positions.ts), only if its position is the one
  // read, or inserted only if there was none (a user's row is never deleted).
  const lock =
    'baseUs' in base
      ? sql`SELECT ${formatMicros(base.baseUs)}::text::timestamptz AS base`
      : reservePositions(userId, written.length, { ifAt: base.observedUs });
  const record = sql`${userId}, ${appId}, x.t, x.i, x.d, x.f, ${POSITION}, ${POSITION}, ${clientId},
    x.w, x.a, x.y, x.e`;
  return sql`
    WITH lock AS (${lock}),
    x AS MATERIALIZED (
      SELECT * FROM ROWS FROM (
        jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
          AS (t text, i text, d jsonb, f jsonb, w jsonb, a jsonb, y jsonb, e uuid, s boolean, o text,
              la jsonb, lv int, l jsonb)
      ) WITH ORDINALITY AS x(t, i, d, f, w, a, y, e, s, o, la, lv, l, n)
    ),
    fresh AS (
      INSERT INTO sync_records ${RECORD_COLUMNS}
      SELECT ${record} FROM x CROSS JOIN lock WHERE NOT x.s
    ),
    stored AS (
      INSERT INTO sync_records AS r ${RECORD_COLUMNS}
      SELECT ${record} FROM x CROSS JOIN lock WHERE x.s
      ${replaceStored(userId)}
    ),
    log AS (
      INSERT INTO sync_changes
        (id, user_id, app_id, table_name, record_id, op, data, field_timestamps, field_types,
         client_id, actor, schema_version, merged)
      SELECT x.e, ${userId}, ${appId}, x.t, x.i, x.o, x.d, x.f, x.y, ${clientId}, x.la, x.lv, true
      FROM x CROSS JOIN lock WHERE x.l IS NULL
      UNION ALL
      SELECT coalesce(e.id, gen_random_uuid()), ${userId}, ${appId}, x.t, x.i, e.o, e.d, e.f, e.y,
             ${clientId}, e.a, e.v, true
      FROM x CROSS JOIN lock
        CROSS JOIN LATERAL jsonb_to_recordset(x.l)
          AS e(id uuid, o text, d jsonb, f jsonb, y jsonb, a jsonb, v int)
      WHERE x.l IS NOT NULL
    )
    SELECT (extract(epoch FROM lock.base) * 1000000)::int8 AS base_us FROM lock`;
}

/** The columns a record write sets, in the order of `record` above and of the takeover's. */
export const RECORD_COLUMNS = sql`(user_id, app_id, table_name, record_id, data, field_timestamps,
    created_at, updated_at, last_client_id, field_writers, field_actors, field_types, event_id)`;

/** The n-th written record's position (x.n, from 1) after the reserved base (`lock.base`). */
export const POSITION = sql`lock.base + (x.n - 1) * interval '1 microsecond'`;

/**
 * A stored record's new state over its old one (an INSERT into `sync_records AS r` whose row
 * exists): every column but the key and created_at. The user filter: row-level security
 * aside, an upsert never touches another user's row.
 */
export function replaceStored(userId: string): Fragment {
  return sql`ON CONFLICT (user_id, app_id, table_name, record_id) DO UPDATE
        SET data = excluded.data, field_timestamps = excluded.field_timestamps,
            updated_at = excluded.updated_at, last_client_id = excluded.last_client_id,
            field_writers = excluded.field_writers, field_actors = excluded.field_actors,
            field_types = excluded.field_types, event_id = excluded.event_id
        WHERE r.user_id = ${userId}`;
}

/** One log row: the change's accepted fields, values and timestamps apart (the seed's columns). */
function logEntry(l: WrittenRecord['log'][number], id: string | null) {
  const d = bare<unknown>();
  const f = bare<Canonical>();
  let y: Record<string, ValueType> | null = null;
  for (const [field, v] of Object.entries(l.fields)) {
    d[field] = v.value;
    f[field] = v.updatedAt;
    if (v.type === undefined) continue;
    y ??= bare();
    y[field] = v.type;
  }
  return { id, o: l.op, d, f, y, a: l.actor, v: l.schemaVersion };
}

/** The field_types column: null when no field has a type (migration 0008). */
export function typesOf(types: Record<string, ValueType> | undefined): Record<string, ValueType> | null {
  if (types === undefined) return null;
  for (const _ in types) return types;
  return null;
}
