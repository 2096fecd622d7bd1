import { sql } from '../../packages/server/src/db/sql.js';
import { createLogger } from '../../packages/server/src/logger.js';
import { type RunningServer, startServer } from '../../packages/server/src/server.js';
import type { BenchSchema } from '../lib/databases.js';

/**
 * The server the client group and its profile scripts sync through: loopback, dev auth, silent,
 * on `schema` (PostgreSQL) or in-memory PGlite. Every per-user limit is off, as in every speed
 * figure (lib/servers.ts): the row budget paced client and baseline alike past 200,000 rows.
 */
export function startClientBenchServer(
  schema: BenchSchema | undefined,
  corsOrigins: string[] = [],
): Promise<RunningServer> {
  return startServer({
    config: {
      port: 0,
      host: '127.0.0.1',
      devAuth: true,
      corsOrigins,
      rateLimitPerSecond: 0,
      rateLimitRows: 0,
      rateLimitConcurrency: 0,
      logLevel: 'silent',
      databaseUrl: schema?.url,
    },
    inMemory: true,
    logger: createLogger('silent'),
    ...(schema ? { schema: schema.schema } : {}),
  });
}

/** `n` todos for `user` straight into the store (as packages/client/test/helpers/seed.ts). */
export async function seedTodos(
  server: RunningServer,
  appId: string,
  user: string,
  n: number,
): Promise<void> {
  await server.db!.forUser(user).query(sql`
    INSERT INTO sync_records (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
    SELECT ${user}, ${appId}, 'todos', 'big-' || lpad(g::text, 7, '0'),
           jsonb_build_object('title', 'Todo number ' || g, 'done', g % 2 = 0, 'note', repeat('n', 80)),
           jsonb_build_object('title', '2024-01-01T00:00:00.000000Z', 'done', '2024-01-01T00:00:00.000000Z',
                              'note', '2024-01-01T00:00:00.000000Z'),
           now() + g * interval '1 microsecond', now() + g * interval '1 microsecond', 'seed'
    FROM generate_series(1, ${n}::int) AS g
    WHERE ${user} = ${user}`);
}
