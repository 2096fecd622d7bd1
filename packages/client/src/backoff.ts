/**
 * Exponential backoff with full jitter: attempt n waits a uniform random time in
 * [minMs, min(maxMs, baseMs * 2^n)]. The randomness spreads the clients of a restarted
 * server over the whole window instead of sending them back in one wave.
 */
export interface Backoff {
  next(): number;
  reset(): void;
  readonly attempts: number;
}

export interface BackoffOptions {
  /** The client's `retryBackoff` (options.ts), or realtime's own reconnect delays. */
  baseMs: number;
  maxMs: number;
  minMs?: number;
  random?: () => number;
}

export function createBackoff(opts: BackoffOptions): Backoff {
  const base = opts.baseMs;
  const max = opts.maxMs;
  const min = opts.minMs ?? 100;
  const random = opts.random ?? Math.random;
  let attempts = 0;
  return {
    next() {
      const ceiling = Math.min(max, base * 2 ** Math.min(attempts, 30));
      attempts++;
      return Math.round(min + random() * Math.max(0, ceiling - min));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}
