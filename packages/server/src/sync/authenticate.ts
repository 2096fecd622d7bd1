import type { Principal } from '../auth/auth.js';
import type { SyncContext } from './context.js';

/** The credentials of a request, as its transport found them (HTTP headers). */
interface RequestHeaders {
  authorization?: string | undefined;
  serviceKey?: string | undefined;
  userId?: string | { notUtf8: true } | undefined;
}

/**
 * Who is asking. Shared by both paths that serve /sync (Hono and the node:http fast path),
 * which then take the rate limit and check the app id, in that order: a stranger learns
 * nothing about the request.
 */
export async function authenticate(
  ctx: SyncContext,
  headers: RequestHeaders,
  requestId: string,
  address: string,
): Promise<Principal> {
  let principal: Principal;
  try {
    principal = await ctx.auth.authenticate(headers, address);
  } catch (err) {
    // Every use of the service key is logged, refused ones too (never the key itself).
    if (headers.serviceKey !== undefined) {
      ctx.logger.warn({ reqId: requestId, reason: (err as Error).message }, 'service key refused');
    }
    throw err;
  }
  if (principal.via === 'service') {
    ctx.logger.info({ reqId: requestId, userId: principal.userId }, 'service key used');
  }
  return principal;
}
