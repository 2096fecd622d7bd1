import { type Db, sql } from '../db/sql.js';

/** At most this many (app, table) pairs are listed (far more than any real user has). */
const MAX_PAIRS = 10_000;

/**
 * The (app, table) pairs a user has records in, grouped by app: what a socket must pull after
 * notifications may have been lost (the WebSocket hub's resync). A loose index scan on the primary key (user_id, app_id,
 * table_name, …): one index probe per distinct pair, however many records the user has.
 */
export async function userTables(
  db: Db,
  userId: string,
): Promise<Array<{ appId: string; tables: string[] }>> {
  const rows = await db.forUser(userId).query<{ app_id: string; table_name: string }>(sql`
    WITH RECURSIVE pairs(app_id, table_name, n) AS (
      (SELECT app_id, table_name, 1 FROM sync_records
        WHERE user_id = ${userId} ORDER BY app_id, table_name LIMIT 1)
      UNION ALL
      SELECT next.app_id, next.table_name, pairs.n + 1 FROM pairs, LATERAL (
        SELECT app_id, table_name FROM sync_records
        WHERE user_id = ${userId} AND (app_id, table_name) > (pairs.app_id, pairs.table_name)
        ORDER BY app_id, table_name LIMIT 1) next
      WHERE pairs.n < ${MAX_PAIRS}
    )
    SELECT app_id, table_name FROM pairs`);
  const byApp = new Map<string, string[]>();
  for (const r of rows) {
    const tables = byApp.get(r.app_id) ?? [];
    tables.push(r.table_name);
    byApp.set(r.app_id, tables);
  }
  return [...byApp].map(([appId, tables]) => ({ appId, tables }));
}
