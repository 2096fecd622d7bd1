import type { Canonical } from '@mana/sync-protocol';
import { type Fragment, sql } from '../db/sql.js';

/**
 * The one statement that reserves cursor positions: `count` of them for `userId`, base,
 * base + 1 µs, …, base + (count - 1) µs, where base is after the user's last position, not
 * before now (clock_timestamp()) and, with `notBefore`, after that time. It moves the user's
 * `last_position` to the last one reserved, holding the user's row (`sync_users`) to the end of
 * the transaction: the user's other writers wait, so positions increase in commit order.
 * Returns one row, `base` (timestamptz) and `base_us` (integer microseconds), or none when
 * `ifAt` did not match.
 *
 * - `ifAt` undefined: the user's row is taken whatever its position (inserted if it has none).
 *   The push under the lock (push.ts) and the takeover (takeover.ts, with `notBefore`: the
 *   batch's newest Go row, which a device may hold as its cursor).
 * - `ifAt` a position (integer microseconds, as read): only if the user's last position is
 *   still that one; `ifAt` null: only if the user has no row yet. The push without a lock
 *   (write-statement.ts): no row back means another push wrote in between.
 *
 * `base_us` in integer microseconds like the page's positions: the SQL function mana_cursor is
 * not inlined in RETURNING, and PostgreSQL planned its body on every push.
 */
export function reservePositions(
  userId: string,
  count: number,
  opts: { ifAt?: string | null; notBefore?: Canonical } = {},
): Fragment {
  const rest = sql`${count - 1} * interval '1 microsecond'`;
  const floor =
    opts.notBefore === undefined
      ? sql`clock_timestamp()`
      : sql`greatest(clock_timestamp(), ${opts.notBefore}::text::timestamptz + interval '1 microsecond')`;
  const next = sql`greatest(${floor}, u.last_position + interval '1 microsecond') + ${rest}`;
  const returning = sql`
      RETURNING u.last_position - ${rest} AS base,
        (extract(epoch FROM u.last_position) * 1000000)::int8 - ${count - 1} AS base_us`;
  if (opts.ifAt === undefined)
    return sql`
      INSERT INTO sync_users AS u (user_id, last_position) VALUES (${userId}, ${floor} + ${rest})
      ON CONFLICT (user_id) DO UPDATE SET last_position = ${next}${returning}`;
  if (opts.ifAt === null)
    return sql`
      INSERT INTO sync_users AS u (user_id, last_position) VALUES (${userId}, ${floor} + ${rest})
      ON CONFLICT (user_id) DO NOTHING${returning}`;
  return sql`
      UPDATE sync_users AS u SET last_position = ${next}
      WHERE u.user_id = ${userId}
        AND (extract(epoch FROM u.last_position) * 1000000)::int8 = ${opts.ifAt}::int8${returning}`;
}
