import { type Db, sql } from '../db/sql.js';

/**
 * Compaction: drops change-log rows (`sync_changes`) older than a cutoff. `sync_records` holds
 * the merged state that pull and conflict detection read, so it is never touched and a pull
 * returns the same state afterwards; only history older than the retention goes.
 *
 * Safe while serving: users are walked in pages of `sync_users`, and each user's old rows go
 * in small batches, one short transaction each, every statement filtering by user_id. Pushes
 * only ever insert log rows stamped now(), which the cutoff never reaches, so compaction and
 * pushes do not wait on each other's rows. Rows of the Go service not merged yet (takeover.ts)
 * are kept whatever their age: until merged, they are the only copy of those changes.
 *
 * Row-level security: the user walk reads across users, through the maintenance bypass
 * (`db.maintenance()`, the one way past the user isolation); each user's deletes run as that
 * user (`db.forUser`), like a push.
 */

export interface CompactOptions {
  /** Log rows created before this instant are dropped. */
  before: Date;
  /** Rows per DELETE (one transaction each). */
  batchSize?: number;
  /** Users per page of the user walk. */
  userPageSize?: number;
  /** Called after each batch and each finished user. */
  onProgress?: (p: CompactProgress) => void;
}

export interface CompactProgress {
  usersDone: number;
  usersTotal: number;
  rowsDeleted: number;
}

export interface CompactResult {
  users: number;
  rowsDeleted: number;
}

export async function compactLog(db: Db, opts: CompactOptions): Promise<CompactResult> {
  const batchSize = opts.batchSize ?? 5000;
  const userPageSize = opts.userPageSize ?? 1000;
  const cutoff = opts.before.toISOString();
  // Operator-side count for progress (not on any request path).
  const operator = db.maintenance();
  const [total] = await operator.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM sync_users`);
  const progress: CompactProgress = { usersDone: 0, usersTotal: total?.n ?? 0, rowsDeleted: 0 };

  let after = '';
  for (;;) {
    const page = await operator.query<{ user_id: string }>(sql`
      SELECT user_id FROM sync_users WHERE user_id > ${after} ORDER BY user_id LIMIT ${userPageSize}`);
    for (const { user_id: userId } of page) {
      for (;;) {
        const deleted = await db.forUser(userId).query<{ id: string }>(sql`
          DELETE FROM sync_changes
          WHERE user_id = ${userId} AND id IN (
            SELECT id FROM sync_changes
            WHERE user_id = ${userId} AND created_at < ${cutoff}::timestamptz AND merged
            LIMIT ${batchSize})
          RETURNING id`);
        progress.rowsDeleted += deleted.length;
        if (deleted.length < batchSize) break;
        opts.onProgress?.({ ...progress });
      }
      progress.usersDone++;
      opts.onProgress?.({ ...progress });
    }
    if (page.length < userPageSize) break;
    after = page.at(-1)!.user_id;
  }
  return { users: progress.usersDone, rowsDeleted: progress.rowsDeleted };
}
