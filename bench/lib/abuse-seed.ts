import postgres from 'postgres';
import type { BenchSchema } from './databases.js';

/**
 * Seeds the abuse figures' records straight through SQL, as the user (app.current_user_id
 * set in the transaction, as the row-level security policies ask): records the push limits
 * now refuse (9.9 MB each), or too many to push in reasonable time. Values are built in SQL
 * (repeat, generate_series): nothing of their size passes through this process.
 */
export async function seedAsUser(
  s: BenchSchema,
  userId: string,
  appId: string,
  rows: { tables: number; perTable: number; valueBytes: number },
): Promise<void> {
  const sql = postgres(s.url, { max: 1, onnotice: () => {}, connection: { search_path: s.schema } });
  const total = rows.tables * rows.perTable;
  // 10 big records per statement: one statement of 600 MB would hold it all in the backend.
  const step = rows.valueBytes > 1_000_000 ? 10 : total;
  try {
    for (let from = 0; from < total; from += step) {
      const to = Math.min(total, from + step) - 1;
      await sql.begin(async (tx) => {
        await tx`SELECT set_config('app.current_user_id', ${userId}, true)`;
        await tx`
          INSERT INTO sync_records
            (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
          SELECT ${userId}, ${appId}, 't' || (i / ${rows.perTable}::int), 'r' || i,
                 jsonb_build_object('v', repeat('x', ${rows.valueBytes}::int), 'n', i),
                 jsonb_build_object('v', ts, 'n', ts),
                 '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 microsecond',
                 '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 microsecond',
                 'seed'
          FROM generate_series(${from}::int, ${to}::int) AS i,
               LATERAL (SELECT '2025-12-31T00:00:00.000000Z'::text AS ts) AS t`;
      });
    }
    await sql.begin(async (tx) => {
      await tx`SELECT set_config('app.current_user_id', ${userId}, true)`;
      await tx`
        INSERT INTO sync_users (user_id, last_position)
        VALUES (${userId}, '2026-01-01T00:00:00Z'::timestamptz + ${total}::int * interval '1 microsecond')
        ON CONFLICT (user_id) DO NOTHING`;
    });
    await sql`ANALYZE sync_records`;
  } finally {
    await sql.end();
  }
}
