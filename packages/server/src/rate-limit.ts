import { SyncError } from '@mana/sync-protocol';

/**
 * Per-user token bucket: `perSecond` tokens refill each second up to `burst`.
 * In memory, per instance (a user pinned to one instance by the load balancer is limited
 * exactly; spread over N instances they get up to N times the rate). Idle buckets are swept.
 */
export interface RateLimiter {
  /**
   * Takes one token for `userId`; throws RATE_LIMITED with the seconds to wait when none is
   * left, or (unless `rows` is false: push and pull wait for them in admission.ts instead)
   * when the user's rows (charge) are spent.
   */
  take(userId: string, now?: number, rows?: boolean): void;
  /** Milliseconds until `userId`'s rows are no longer spent (0: not spent). */
  rowsWaitMs(userId: string, now?: number): number;
  /**
   * Counts rows a request of `userId` read or wrote (RATE_LIMIT_ROWS). Charged after the
   * request, when its cost is known: the budget may go below zero, and the user's next
   * requests wait until it has refilled.
   */
  charge(userId: string, rows: number, now?: number): void;
  size(): number;
}

export class RateLimitedError extends SyncError {
  constructor(readonly retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many requests; retry in ${retryAfterSeconds} s`);
  }
}

/**
 * How many seconds of RATE_LIMIT_ROWS a user may spend at once: a first sync of a big account
 * pulls its pages back to back. 20 s of the default 10,000 is 200,000 rows: the first sync of
 * a 100,000-record account (about 102,000 rows) goes through without a wait (docs/operations.md).
 */
const ROWS_BURST_SECONDS = 20;

export function createRateLimiter(perSecond: number, burst: number, rowsPerSecond = 0): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const rows = rowBudget(rowsPerSecond);
  let lastSweep = 0;
  return {
    charge: rows.charge,
    rowsWaitMs: (userId, now = Date.now()) => rows.waitMs(userId, now),
    take(userId, now = Date.now(), checkRows = true) {
      if (checkRows) {
        const wait = rows.waitMs(userId, now);
        if (wait > 0) throw new RateLimitedError(Math.max(1, Math.ceil(wait / 1000)));
      }
      if (perSecond <= 0) return;
      if (now - lastSweep > 60_000) {
        lastSweep = now;
        for (const [k, b] of buckets) if (now - b.at > 60_000) buckets.delete(k);
      }
      const b = buckets.get(userId) ?? { tokens: burst, at: now };
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
      buckets.set(userId, b);
      if (b.tokens < 1) throw new RateLimitedError(Math.max(1, Math.ceil((1 - b.tokens) / perSecond)));
      b.tokens -= 1;
    },
    size: () => buckets.size,
  };
}

/**
 * Rows read and written per user and second (RATE_LIMIT_ROWS), so that one user's heavy
 * requests (a far-behind client paging through 200 tables, pushes of 10,000 changes) cannot
 * take the database from everyone else. A bucket of `perSecond` × ROWS_BURST_SECONDS rows.
 */
function rowBudget(perSecond: number) {
  const burst = perSecond * ROWS_BURST_SECONDS;
  const buckets = new Map<string, { rows: number; at: number }>();
  const refill = (userId: string, now: number) => {
    const b = buckets.get(userId);
    if (!b) return undefined;
    b.rows = Math.min(burst, b.rows + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    // Full again: forgotten, so idle users cost no memory.
    if (b.rows >= burst) buckets.delete(userId);
    return b;
  };
  return {
    waitMs(userId: string, now: number): number {
      if (perSecond <= 0) return 0;
      const b = refill(userId, now);
      return b && b.rows < 0 ? Math.ceil((-b.rows / perSecond) * 1000) : 0;
    },
    charge(userId: string, n: number, now = Date.now()) {
      if (perSecond <= 0 || n <= 0) return;
      const b = refill(userId, now) ?? { rows: burst, at: now };
      b.rows -= n;
      buckets.set(userId, b);
    },
  };
}
