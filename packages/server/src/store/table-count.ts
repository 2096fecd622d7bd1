import { type Db, sql } from '../db/sql.js';

/**
 * How many tables a user's app has, as last counted: a push's answer (appPage in page.ts)
 * probes the index once or twice per table whatever it returns, so an empty push to an app of
 * 200 tables costs ~400 index probes and no row. Those probes are charged to RATE_LIMIT_ROWS
 * as rows (probes() below), so a user cannot spend the database's time on them for free.
 *
 * The count is not on the push's path: an unknown or stale one (older than REFRESH_MS) is
 * counted in the background, by the same loose index scan the page uses (one probe a table),
 * at most one count at a time per app and at most once a minute; until it is known the push
 * is charged no probes. Why not exact: the page statement would have to return its probe count
 * even when it returns no row, for every push, to save a count a minute.
 */
const REFRESH_MS = 60_000;
const MAX_ENTRIES = 10_000;

export function tableCounter(db: Db) {
  const counts = new Map<string, { tables: number; at: number }>();
  const counting = new Set<string>();

  function count(userId: string, appId: string, key: string): void {
    counting.add(key);
    db.forUser(userId)
      .query<{ n: string | number }>(sql`
        WITH RECURSIVE tables(name) AS (
          (SELECT table_name FROM sync_records
           WHERE user_id = ${userId} AND app_id = ${appId} ORDER BY table_name LIMIT 1)
          UNION ALL
          SELECT next.table_name FROM tables, LATERAL (
            SELECT table_name FROM sync_records
            WHERE user_id = ${userId} AND app_id = ${appId} AND table_name > tables.name
            ORDER BY table_name LIMIT 1) next
        )
        SELECT count(*) AS n FROM tables`)
      .then(
        (rows) => {
          if (counts.size >= MAX_ENTRIES) counts.delete(counts.keys().next().value!);
          counts.delete(key);
          counts.set(key, { tables: Number(rows[0]?.n ?? 0), at: Date.now() });
        },
        // A closed or failing database: no count, the push is charged without probes.
        () => {},
      )
      .finally(() => counting.delete(key));
  }

  return {
    /** Index probes of one app page of `userId`'s `appId` (2 a table), as last counted. */
    probes(userId: string, appId: string): number {
      const key = `${userId}\u0000${appId}`;
      const known = counts.get(key);
      if ((!known || Date.now() - known.at > REFRESH_MS) && !counting.has(key)) count(userId, appId, key);
      return known ? 2 * known.tables : 0;
    },
  };
}
