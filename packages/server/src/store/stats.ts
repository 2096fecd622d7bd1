import { type Db, sql } from '../db/sql.js';

/**
 * Per-app totals for `mana-sync stats`. These are operator reports across users (the one
 * place that does not filter by user_id), read-only and never on a request path; on a
 * sharded deployment run them per shard and add up. They read through the maintenance bypass
 * of row-level security (`db.maintenance()`), explicitly.
 */
export interface AppStats {
  appId: string;
  records: number;
  deletedRecords: number;
  changes: number;
  users: number;
}

export async function collectStats(db: Db): Promise<AppStats[]> {
  const operator = db.maintenance();
  const records = await operator.query<{
    app_id: string;
    records: number;
    deleted: number;
    users: number;
  }>(sql`
    SELECT app_id, count(*)::int AS records,
           count(*) FILTER (WHERE data->>'deletedAt' IS NOT NULL)::int AS deleted,
           count(DISTINCT user_id)::int AS users
    FROM sync_records GROUP BY app_id`);
  const changes = await operator.query<{ app_id: string; changes: number }>(sql`
    SELECT app_id, count(*)::int AS changes FROM sync_changes GROUP BY app_id`);
  const byApp = new Map<string, AppStats>();
  const get = (appId: string) => {
    let s = byApp.get(appId);
    if (!s) {
      s = { appId, records: 0, deletedRecords: 0, changes: 0, users: 0 };
      byApp.set(appId, s);
    }
    return s;
  };
  for (const r of records)
    Object.assign(get(r.app_id), { records: r.records, deletedRecords: r.deleted, users: r.users });
  for (const c of changes) get(c.app_id).changes = c.changes;
  return [...byApp.values()].sort((a, b) => a.appId.localeCompare(b.appId));
}
