import { createHash, timingSafeEqual } from 'node:crypto';
import { SyncError, stringProblem } from '@mana/sync-protocol';
import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { createFailureLimit } from './failure-limit.js';

/** Who a request acts for. */
export interface Principal {
  userId: string;
  /** `jwt`: a user's token; `service`: a trusted Mana backend acting for `userId`. */
  via: 'jwt' | 'service';
  /** Token expiry (seconds since epoch): every token has one; a service-key principal has none. */
  expiresAt?: number;
}

interface AuthOptions {
  /** Where the JWKS lives (the Mana auth service), or a key set to use directly (dev issuer, tests). */
  jwks: string | JWTVerifyGetKey;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Accepted algorithms; asymmetric only. */
  algorithms: string[];
  /** Shared secret of trusted backends; undefined turns service auth off. */
  serviceKey?: string | undefined;
  /** How long a verified token is trusted without verifying it again (default 60 s; 0: never cached). */
  cacheTtlMs?: number;
  /** Most verified tokens kept (default 10,000; the oldest go first). */
  cacheSize?: number;
  /** Longest token lifetime accepted, in seconds: `exp - iat`, or `exp - now` without `iat` (default 24 h). */
  maxTtlSeconds?: number;
  /** Failed checks a client address may have per minute before it gets 429 (default 0: no limit). */
  failuresPerMinute?: number;
  /** Told of each failed check counted against an address (`exhausted`: it was the address's last). */
  onFailure?: (address: string, exhausted: boolean) => void;
  /** Told of each credential refused unchecked because its address is over the limit. */
  onLimited?: (address: string) => void;
  /** Current time in ms (tests move it). */
  now?: () => number;
}

export interface Auth {
  /**
   * Verifies a bearer token. Throws SyncError UNAUTHORIZED / TOKEN_EXPIRED / TOKEN_LIFETIME /
   * AUTH_UNAVAILABLE, or RATE_LIMITED when `address` (the client's) failed too often.
   */
  verifyToken(token: string, address?: string): Promise<Principal>;
  /**
   * The principal of a bearer token verified before and still valid, at once (no promise: the
   * hot path of a small push); undefined for anything else, which `authenticate` then decides.
   * `holder` (the request's socket): the last answer is kept on it, so the next request on
   * the same connection with the very same header skips parsing and hashing the token.
   */
  cached(authorization: string | undefined, holder?: object): Principal | undefined;
  /**
   * Authenticates a request from its headers (bearer token, or service key + user id);
   * a failure counts against `address` (the client's), as in verifyToken.
   */
  authenticate(
    headers: {
      authorization?: string | undefined;
      serviceKey?: string | undefined;
      /** X-User-Id as UTF-8 (http/steps.ts utf8Header); `{ notUtf8: true }`: its bytes were not UTF-8. */
      userId?: string | { notUtf8: true } | undefined;
    },
    address?: string,
  ): Promise<Principal>;
}

interface Verified {
  principal: Principal;
  /** Trusted until then (ms since epoch): the token's `exp` or the cache TTL, the earlier. */
  until: number;
}

/**
 * A user id: 1-256 characters, none of them a control character, and well-formed UTF-16.
 * A lone surrogate (a JWT payload may carry "\ud800") becomes U+FFFD when encoded for the
 * database, so two different subjects would share one user's data.
 */
const USER_ID = {
  maxLength: 256,
  test: (s: string) =>
    s.length >= 1 && s.length <= USER_ID.maxLength && !/[\p{Cc}]/u.test(s) && stringProblem(s) === null,
};

/** What is wrong with an X-User-Id (the rule of a token's `sub`, USER_ID), in words; null: nothing. */
function userIdProblem(userId: string | { notUtf8: true } | undefined): string | null {
  if (userId === undefined || userId === '') return 'service auth needs X-User-Id';
  if (typeof userId !== 'string') return 'X-User-Id is not valid UTF-8';
  if (userId.length > USER_ID.maxLength) return `X-User-Id is longer than ${USER_ID.maxLength} characters`;
  if (!USER_ID.test(userId)) return 'X-User-Id has a control character or is not well-formed text';
  return null;
}

/**
 * Checks its options when made (a bad setup fails at start-up, not on the first request).
 * `none` and HMAC algorithms are refused here and by jose's algorithm allow-list.
 */
export function createAuth(opts: AuthOptions): Auth {
  for (const alg of opts.algorithms) {
    if (alg === 'none' || /^HS/i.test(alg)) throw new Error(`JWT algorithm ${alg} is not allowed`);
  }
  if (opts.algorithms.length === 0) throw new Error('at least one JWT algorithm is required');
  const getKey =
    typeof opts.jwks === 'string'
      ? createRemoteJWKSet(new URL(opts.jwks), {
          timeoutDuration: 5000,
          cooldownDuration: 30_000,
          cacheMaxAge: 600_000,
        })
      : opts.jwks;
  const serviceKey = opts.serviceKey ? sha256(opts.serviceKey) : undefined;
  const now = opts.now ?? Date.now;
  const cacheTtlMs = opts.cacheTtlMs ?? 60_000;
  const cacheSize = opts.cacheSize ?? 10_000;
  const maxTtlSeconds = opts.maxTtlSeconds ?? 86_400;
  const limit = createFailureLimit(opts.failuresPerMinute ?? 0);
  /** The failure limit, with the server told of what it counts and refuses (metrics, a log line). */
  const failures = {
    check(address: string, at: number) {
      try {
        limit.check(address, at);
      } catch (err) {
        opts.onLimited?.(address);
        throw err;
      }
    },
    fail(address: string, at: number) {
      opts.onFailure?.(address, limit.fail(address, at));
    },
  };
  /**
   * Verified tokens by their exact string. A client sends the same token on every request,
   * and an Ed25519 verification costs more than the rest of a small push's request path.
   * An entry never outlives the token's `exp`, nor `cacheTtlMs` (which bounds how long a
   * token keeps working after its signing key leaves the JWKS). Failures are not cached.
   */
  const verified = new Map<string, Verified>();
  /**
   * The last cache hit of each connection, by its exact Authorization header. Why: a client
   * sends the same header on every request of a keep-alive connection, and comparing it with
   * the last one costs far less than the regex that extracts the token and the hash of a
   * ~250-character key (together about 5 % of a small push's instructions). It keeps the entry's
   * `until`, so it never outlives the token's `exp` nor the TTL. A WeakMap: a closed
   * connection takes its entry along.
   */
  const lastHit = new WeakMap<object, { authorization: string; hit: Verified }>();

  function cachedEntry(token: string, at: number): Verified | undefined {
    const hit = verified.get(token);
    if (!hit) return undefined;
    if (at < hit.until) return hit;
    verified.delete(token);
    return undefined;
  }

  async function verifyToken(token: string, address?: string): Promise<Principal> {
    const at = now();
    const hit = cachedEntry(token, at)?.principal;
    if (hit) return hit;
    if (address !== undefined) failures.check(address, at);
    let principal: Principal;
    try {
      principal = await verifyUncached(token, at);
    } catch (err) {
      if (address !== undefined && isBadCredential(err)) failures.fail(address, at);
      throw err;
    }
    if (cacheTtlMs > 0) {
      const until = Math.min(at + cacheTtlMs, principal.expiresAt ? principal.expiresAt * 1000 : Infinity);
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
      verified.set(token, { principal, until });
    }
    return principal;
  }

  async function verifyUncached(token: string, at: number): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        currentDate: new Date(at),
        algorithms: opts.algorithms,
        ...(opts.issuer ? { issuer: opts.issuer } : {}),
        ...(opts.audience ? { audience: opts.audience } : {}),
      });
      if (typeof payload.sub !== 'string' || !USER_ID.test(payload.sub)) {
        throw new SyncError('UNAUTHORIZED', 'token has no usable subject (sub)');
      }
      // A token without exp never expires (a leaked one works forever, a WebSocket on it is
      // never closed), and one with exp in 2500 nearly so: required everywhere, capped here.
      // Every issuer Mana uses sets it (Better Auth: 15 min; the dev issuer: 24 h).
      if (typeof payload.exp !== 'number') {
        throw new SyncError('TOKEN_LIFETIME', 'token has no expiry (exp); tokens must expire');
      }
      // exp - iat, and never more than that from now: an iat in the future (exp in 2500, iat a
      // minute before it) must not pass. The minute allows for the issuer's clock being ahead.
      const nowSeconds = Math.floor(at / 1000);
      const lifetime = payload.exp - (typeof payload.iat === 'number' ? payload.iat : nowSeconds);
      if (lifetime > maxTtlSeconds || payload.exp - nowSeconds > maxTtlSeconds + 60) {
        throw new SyncError(
          'TOKEN_LIFETIME',
          `token lifetime ${Math.max(lifetime, payload.exp - nowSeconds)} s is longer than the ${maxTtlSeconds} s this server accepts (JWT_MAX_TTL_S)`,
        );
      }
      return { userId: payload.sub, via: 'jwt', expiresAt: payload.exp };
    } catch (err) {
      throw toAuthError(err);
    }
  }

  return {
    verifyToken,
    cached(authorization, holder) {
      if (authorization === undefined) return undefined;
      const at = now();
      const last = holder && lastHit.get(holder);
      if (last && last.authorization === authorization && at < last.hit.until) return last.hit.principal;
      const token = bearerToken(authorization);
      const hit = token === undefined ? undefined : cachedEntry(token, at);
      if (hit && holder) lastHit.set(holder, { authorization, hit });
      return hit?.principal;
    },
    async authenticate(h, address) {
      if (h.serviceKey !== undefined) {
        if (address !== undefined) failures.check(address, now());
        if (!serviceKey) throw new SyncError('UNAUTHORIZED', 'service auth is not enabled on this server');
        // Constant time, length included: compare fixed-size digests, never the raw strings.
        const ok = timingSafeEqual(sha256(h.serviceKey), serviceKey);
        if (!ok) {
          if (address !== undefined) failures.fail(address, now());
          throw new SyncError('UNAUTHORIZED', 'wrong service key');
        }
        const problem = userIdProblem(h.userId);
        if (problem) throw new SyncError('UNAUTHORIZED', problem);
        return { userId: h.userId as string, via: 'service' };
      }
      const token = bearerToken(h.authorization);
      if (token === undefined)
        throw new SyncError('UNAUTHORIZED', 'missing bearer token (Authorization: Bearer <jwt>)');
      return verifyToken(token, address);
    },
  };
}

/**
 * What counts against an address: a credential that does not verify (signature, issuer,
 * audience, subject, lifetime). Not an expired token (a client that slept past its token's
 * `exp` is no attacker, and it gets a fresh one) nor an auth service outage.
 */
function isBadCredential(err: unknown): boolean {
  return err instanceof SyncError && (err.code === 'UNAUTHORIZED' || err.code === 'TOKEN_LIFETIME');
}

function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer +(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function toAuthError(err: unknown): SyncError {
  if (err instanceof SyncError) return err;
  if (err instanceof errors.JWTExpired) return new SyncError('TOKEN_EXPIRED', 'token expired');
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return new SyncError('AUTH_UNAVAILABLE', 'the auth service key set cannot be fetched');
  }
  // jose throws its bare base class (no subclass) only when the JWKS response is not a 200
  // or not JSON: the auth service is down, not the token bad. A 401 here would make every
  // client drop a good token and log its user out during an auth outage.
  if (err instanceof errors.JOSEError && err.constructor === errors.JOSEError) {
    return new SyncError('AUTH_UNAVAILABLE', 'the auth service key set cannot be fetched');
  }
  if (err instanceof errors.JOSEError) {
    return new SyncError('UNAUTHORIZED', `invalid token (${err.code})`);
  }
  // fetch() of the JWKS failed (connection refused, DNS, reset): the auth service is down.
  if (err instanceof TypeError || (err as { cause?: unknown })?.cause) {
    return new SyncError('AUTH_UNAVAILABLE', 'the auth service key set cannot be fetched');
  }
  return new SyncError('UNAUTHORIZED', 'invalid token');
}
