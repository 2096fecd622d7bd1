import { sql } from '../../../server/src/db/sql.js';
import type { TestServer } from '../../../server/test/helpers/test-server.js';

/** Puts `n` todos for `user` straight into the store: a large account, without 100 pushes. */
export async function seed(server: TestServer, user: string, n: number): Promise<void> {
  const db = server.server.db!.forUser(user);
  await db.query(sql`
    INSERT INTO sync_records (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
    SELECT ${user}, 'todo', 'todos', 'big-' || lpad(g::text, 7, '0'),
           jsonb_build_object('title', 'Todo number ' || g, 'done', g % 2 = 0, 'note', repeat('n', 80)),
           jsonb_build_object('title', '2024-01-01T00:00:00.000000Z', 'done', '2024-01-01T00:00:00.000000Z',
                              'note', '2024-01-01T00:00:00.000000Z'),
           now() + g * interval '1 microsecond', now() + g * interval '1 microsecond', 'seed'
    FROM generate_series(1, ${n}::int) AS g
    WHERE ${user} = ${user}`);
}
