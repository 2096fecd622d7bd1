import { SyncError } from '@mana/sync-protocol';

/**
 * Per-user token bucket: `perSecond` tokens refill each second up to `burst`.
 * In memory, per instance (a user pinned to one instance by the load balancer is limited
 * exactly; spread over N instances they get up to N times the rate). Idle buckets are swept.
 */
export interface RateLimiter {
  /** Takes one token for `userId`; throws RATE_LIMITED with the seconds to wait when none is left. */
  take(userId: string, now?: number): void;
  size(): number;
}

export class RateLimitedError extends SyncError {
  constructor(readonly retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many requests; retry in ${retryAfterSeconds} s`);
  }
}

export function createRateLimiter(perSecond: number, burst: number): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = 0;
  return {
    take(userId, now = Date.now()) {
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
