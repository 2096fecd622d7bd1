import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv, ServerContext } from './context.js';
import { ROUTE_STEPS, runSteps, type Step, type SyncRequest } from './steps.js';

/** A Hono request as the steps see it (steps.ts). */
function syncRequestOf(c: Context<AppEnv>, admit: boolean, rawAppId: string | undefined): SyncRequest {
  const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
  return {
    requestId: c.get('requestId'),
    header: (name) => c.req.header(name),
    incoming: env?.incoming,
    outgoing: env?.outgoing,
    rawAppId,
    admit,
  };
}

/** `steps` as one Hono middleware (the ones that need no route: ARRIVAL_STEPS). */
export function stepsMiddleware(ctx: ServerContext, steps: readonly Step[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await runSteps(ctx, steps, syncRequestOf(c, false, undefined));
    await next();
  };
}

/**
 * A sync route's steps (ROUTE_STEPS), the caller and app id kept on the context for the log
 * line, a refused request's too. `admit`: push and pull wait for the user's turn; a stream does not.
 */
export async function routeSteps(
  ctx: ServerContext,
  c: Context<AppEnv>,
  admit: boolean,
): Promise<{ userId: string; appId: string }> {
  const r = syncRequestOf(c, admit, c.req.param('appId'));
  try {
    await runSteps(ctx, ROUTE_STEPS, r);
  } finally {
    if (r.principal) c.set('principal', r.principal);
    if (r.appId !== undefined) c.set('appId', r.appId);
  }
  return { userId: r.principal!.userId, appId: r.appId! };
}
