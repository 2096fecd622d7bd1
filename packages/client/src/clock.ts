import { type Canonical, formatMicros } from '@mana/sync-protocol';

/**
 * Field timestamps for local writes: canonical, microsecond precision, strictly increasing
 * within this client. Two writes to one field in the same millisecond must not tie: on a tie
 * the server keeps what it has, and the later local write would be lost.
 */
export interface Clock {
  next(): Canonical;
}

export function createClock(now: () => number = Date.now): Clock {
  let last = 0;
  return {
    next() {
      last = Math.max(now() * 1000, last + 1);
      return formatMicros(last);
    },
  };
}
