import postgres from 'postgres';
import type { BenchSchema } from './databases.js';

/** One user's seeding statements, each run in a transaction that sets app.current_user_id. */
export interface SeedScript {
  userId: string;
  statements: string[];
}

export interface SeedRows {
  tables: number;
  perTable: number;
  valueBytes: number;
}

/**
 * The abuse figures' records as plain SQL: records the push limits now refuse (9.9 MB each),
 * or too many to push in reasonable time. Values are built in SQL (repeat, generate_series):
 * nothing of their size passes through this process. User and app ids are the bench's own
 * (letters, digits, dashes), checked before they go into the text.
 */
export function seedScript(userId: string, appId: string, rows: SeedRows): SeedScript {
  for (const id of [userId, appId]) if (!/^[a-z0-9-]+$/.test(id)) throw new Error(`seed: bad id ${id}`);
  const total = rows.tables * rows.perTable;
  // 10 big records per statement: one statement of 600 MB would hold it all in the backend.
  const step = rows.valueBytes > 1_000_000 ? 10 : total;
  const statements: string[] = [];
  for (let from = 0; from < total; from += step) {
    const to = Math.min(total, from + step) - 1;
    statements.push(`
      INSERT INTO sync_records
        (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
      SELECT '${userId}', '${appId}', 't' || (i / ${rows.perTable}), 'r' || i,
             jsonb_build_object('v', repeat('x', ${rows.valueBytes}), 'n', i),
             jsonb_build_object('v', ts, 'n', ts),
             '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 microsecond',
             '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 microsecond',
             'seed'
      FROM generate_series(${from}, ${to}) AS i,
           LATERAL (SELECT '2025-12-31T00:00:00.000000Z'::text AS ts) AS t`);
  }
  statements.push(`
    INSERT INTO sync_users (user_id, last_position)
    VALUES ('${userId}', '2026-01-01T00:00:00Z'::timestamptz + ${total} * interval '1 microsecond')
    ON CONFLICT (user_id) DO NOTHING`);
  return { userId, statements };
}

/**
 * Runs a seed script on a PostgreSQL schema as the user (app.current_user_id set in each
 * transaction, as the row-level security policies ask).
 */
export async function seedAsUser(s: BenchSchema, script: SeedScript): Promise<void> {
  const sql = postgres(s.url, { max: 1, onnotice: () => {}, connection: { search_path: s.schema } });
  try {
    for (const statement of script.statements)
      await sql.begin(async (tx) => {
        await tx`SELECT set_config('app.current_user_id', ${script.userId}, true)`;
        await tx.unsafe(statement);
      });
    await sql`ANALYZE sync_records`;
  } finally {
    await sql.end();
  }
}
