/**
 * Tokens come from the app through `getToken()`. The client caches the last one, asks for a
 * fresh one shortly before it expires, and at most once after the server refused it. If the
 * server refuses the fresh token too, that is the app's problem to solve (sign in again), not
 * something to retry in a loop: the caller turns it into status `error`.
 */
export interface GetTokenOptions {
  /** The cached token expired or was refused: do not return it again. */
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
  /** A token believed valid: the cached one, or a fresh one when it expires within the margin. */
  current(): Promise<string>;
  /** A fresh token from the app (after a 401 or an auth close). */
  refresh(): Promise<string>;
  /** The token's `sub`, read without verification: only to keep each user's cursors apart. */
  subject(): string;
  /** When the cached token expires (ms since the epoch), or null when unknown. */
  expiresAt(): number | null;
  readonly refreshMarginMs: number;
}

export function createTokenSource(getToken: GetToken, refreshMarginMs = 60_000, now = Date.now): TokenSource {
  let token: string | null = null;
  let inflight: Promise<string> | null = null;

  const fetchToken = (forceRefresh: boolean): Promise<string> => {
    inflight ??= (async () => {
      try {
        const t = await getToken({ forceRefresh });
        if (!t) throw new AuthRefusedError('getToken() returned no token: sign in first');
        token = t;
        return t;
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };

  return {
    async current() {
      if (token !== null) {
        const exp = claims(token).exp;
        if (typeof exp !== 'number' || exp * 1000 - now() > refreshMarginMs) return token;
        return fetchToken(true);
      }
      return fetchToken(false);
    },
    refresh: () => fetchToken(true),
    expiresAt() {
      const exp = token ? claims(token).exp : undefined;
      return typeof exp === 'number' ? exp * 1000 : null;
    },
    refreshMarginMs,
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
