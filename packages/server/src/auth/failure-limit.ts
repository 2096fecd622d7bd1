import { RateLimitedError } from '../rate-limit.js';

/**
 * Failed credential checks per client address (AUTH_FAIL_LIMIT a minute, a token bucket):
 * each bad signature, wrong issuer or wrong service key costs the address one; once none is
 * left, further unknown credentials from it are refused with 429 before any verification
 * (an Ed25519 check is the costliest step of a request, and guessing at service keys must
 * stay slow). Credentials verified before (the token cache) still pass, so a shared address
 * (an office behind NAT) keeps working for everyone signed in while one client fails.
 *
 * IPv6 addresses count by their /64: one host usually owns a whole /64, and could otherwise
 * take a fresh address for every attempt.
 */
interface FailureLimit {
  /** Throws RATE_LIMITED (with Retry-After) when `address` has no failures left. */
  check(address: string, now?: number): void;
  /** Counts one failed check against `address`; true when it used up the address's last one. */
  fail(address: string, now?: number): boolean;
  size(): number;
}

/** Most addresses tracked; the oldest go first (a flood of addresses must not grow memory). */
const MAX_ADDRESSES = 100_000;

export function createFailureLimit(perMinute: number): FailureLimit {
  const buckets = new Map<string, { left: number; at: number }>();
  const perMs = perMinute / 60_000;
  const refill = (key: string, now: number) => {
    const b = buckets.get(key);
    if (!b) return undefined;
    b.left = Math.min(perMinute, b.left + (now - b.at) * perMs);
    b.at = now;
    if (b.left >= perMinute) {
      buckets.delete(key); // back to full: nothing to remember
      return undefined;
    }
    return b;
  };
  return {
    check(address, now = Date.now()) {
      if (perMinute <= 0) return;
      const b = refill(addressKey(address), now);
      if (b && b.left < 1) {
        throw new RateLimitedError(Math.max(1, Math.ceil((1 - b.left) / perMs / 1000)));
      }
    },
    fail(address, now = Date.now()) {
      if (perMinute <= 0) return false;
      const key = addressKey(address);
      const b = refill(key, now) ?? { left: perMinute, at: now };
      const exhausted = b.left >= 1 && b.left - 1 < 1;
      b.left = Math.max(0, b.left - 1);
      buckets.delete(key); // re-inserted last: the map's order is the eviction order
      buckets.set(key, b);
      if (buckets.size > MAX_ADDRESSES) buckets.delete(buckets.keys().next().value!);
      return exhausted;
    },
    size: () => buckets.size,
  };
}

/** The address itself (IPv4), or the first four groups of an IPv6 address (its /64). */
function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('%')[0]!.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
