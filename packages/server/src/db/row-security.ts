import { type Db, type Fragment, sql } from './sql.js';

/**
 * Row-level security (migration 0007): the sync tables show and accept only the rows whose
 * user_id is the transaction's `app.current_user_id`, the setting the Go service used. It is
 * defense in depth behind "every statement filters by user_id": a statement that forgets the
 * filter sees nothing of other users instead of everything.
 *
 *   db.forUser(u)       every statement in a transaction that first sets app.current_user_id = u
 *   db.maintenance()    every statement in a transaction that first sets mana_sync.maintenance = on
 *                       (operator commands that read across users: compact, stats, the takeover)
 *   db                  neither set: the sync tables look empty (migrations, ping, ANALYZE)
 *
 * Both settings are transaction-local (set_config(…, true)): they end with the transaction, so
 * a pooled connection never carries one statement's user into the next one's.
 */

/** Sets the user whose rows the rest of the transaction sees. */
export function setUserStatement(userId: string): Fragment {
  // An empty id would match nothing, but it is always a bug upstream (the auth gives a `sub`).
  if (typeof userId !== 'string' || userId.length === 0) throw new Error('forUser: empty user id');
  return sql`SELECT set_config('app.current_user_id', ${userId}, true)`;
}

/** Opens the maintenance policy for the rest of the transaction (see `Db.maintenance`). */
export const SET_MAINTENANCE: Fragment = sql`SELECT set_config('mana_sync.maintenance', 'on', true)`;

/**
 * Why the connection's role would skip row-level security (superuser or BYPASSRLS; the
 * policies are FORCEd, so owning the tables is not enough to skip them), or undefined.
 */
export async function rowSecurityBypass(db: Db): Promise<string | undefined> {
  const [row] = await db.query<{ role: string; rolsuper: boolean; rolbypassrls: boolean }>(sql`
    SELECT current_user::text AS role, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`);
  if (!row) return undefined;
  if (row.rolsuper) return `role "${row.role}" is a superuser`;
  if (row.rolbypassrls) return `role "${row.role}" has BYPASSRLS`;
  return undefined;
}
