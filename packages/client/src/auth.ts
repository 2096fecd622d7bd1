/**
 * Tokens come from the app through `getToken()`. The client caches the last one and asks for a
 * new one ahead of its expiry, by `tokenRefreshMarginMs` or half the token's lifetime, whichever
 * is shorter, so a token shorter than the margin is not fetched again on every request:
 *
 *   issued ─────────── half ─────────── exp - min(margin, half) ───── exp
 *                                          └ routine refresh: getToken({ forceRefresh: false })
 *
 * Routine refreshes are also at least half a lifetime apart, so an app that hands back the same
 * cached token makes no loop either: at most one routine call per half lifetime. A token the
 * server refuses (401) is replaced once with `forceRefresh: true`; if the server refuses the
 * fresh token too, that is the app's problem to solve (sign in again), not something to retry
 * in a loop: the caller turns it into status `error`.
 */
export interface GetTokenOptions {
  /** The server refused the cached token: do not return it again. False on routine refreshes. */
  forceRefresh: boolean;
}

export type GetToken = (
  opts: GetTokenOptions,
) => Promise<string | null | undefined> | string | null | undefined;

export class AuthRefusedError extends Error {
  override name = 'AuthRefusedError';
  readonly code = 'AUTH_REFUSED';
}

export interface TokenSource {
  /** A token believed valid: the cached one, or a new one once `refreshAt()` has passed. */
  current(): Promise<string>;
  /** A fresh token from the app (after a 401 or an auth close): `forceRefresh: true`. */
  refresh(): Promise<string>;
  /** The token's `sub`, read without verification: only to keep each user's cursors apart. */
  subject(): string;
  /** When the cached token expires (ms since the epoch), or null when unknown. */
  expiresAt(): number | null;
  /** When `current()` asks the app for a new token (ms since the epoch); null: only after a refusal. */
  refreshAt(): number | null;
  readonly refreshMarginMs: number;
  /**
   * Drops the cached token (stop(): signing out). The next call asks the app again, so the
   * user who signs in next is never served under the one who signed out.
   */
  forget(): void;
}

export function createTokenSource(
  getToken: GetToken,
  /** The client's `tokenRefreshMarginMs` (options.ts). */
  refreshMarginMs: number,
  now = Date.now,
): TokenSource {
  let token: string | null = null;
  /** When the app last handed over a token (the cached one, new or not). */
  let fetchedAt = 0;
  /** The cached token's lifetime (iat to exp; else from when it first arrived): fixed per token. */
  let lifetimeMs = 0;
  let inflight: Promise<string> | null = null;
  /** Bumped by forget(): a token asked for before it is not cached after it. */
  let generation = 0;

  const fetchToken = (forceRefresh: boolean): Promise<string> => {
    const asked = generation;
    inflight ??= (async () => {
      try {
        const t = await getToken({ forceRefresh });
        if (!t) throw new AuthRefusedError('getToken() returned no token: sign in first');
        if (asked !== generation) return t;
        fetchedAt = now();
        if (t !== token) {
          const { exp, iat } = claims(t);
          const expMs = typeof exp === 'number' ? exp * 1000 : Number.NaN;
          const issuedMs = typeof iat === 'number' && iat * 1000 < expMs ? iat * 1000 : fetchedAt;
          lifetimeMs = expMs - issuedMs;
        }
        token = t;
        return t;
      } finally {
        if (asked === generation) inflight = null;
      }
    })();
    return inflight;
  };

  const expiresAt = () => {
    const exp = token ? claims(token).exp : undefined;
    return typeof exp === 'number' ? exp * 1000 : null;
  };

  function refreshAt(): number | null {
    const exp = expiresAt();
    // No expiry, or expired when it arrived: only the server's refusal asks for another.
    if (exp === null || !(lifetimeMs > 0)) return null;
    const half = lifetimeMs / 2;
    return Math.max(exp - Math.min(Math.max(0, refreshMarginMs), half), fetchedAt + half);
  }

  return {
    async current() {
      if (token === null) return fetchToken(false);
      const at = refreshAt();
      return at === null || now() < at ? token : fetchToken(false);
    },
    refresh: () => fetchToken(true),
    expiresAt,
    refreshAt,
    refreshMarginMs,
    forget() {
      generation++;
      token = null;
      fetchedAt = 0;
      lifetimeMs = 0;
      inflight = null;
    },
    subject() {
      const sub = token ? claims(token).sub : undefined;
      return typeof sub === 'string' && sub.length > 0 ? sub : 'default';
    },
  };
}

function claims(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1];
  if (!part) return {};
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
