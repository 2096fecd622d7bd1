import { HEADER, ROUTE, type ServerChange, SyncError } from '@mana/sync-protocol';
import { type Context, Hono } from 'hono';
import { RawChange } from '../../sync/page.js';
import { runPull } from '../../sync/pull.js';
import { runPush } from '../../sync/push.js';
import { readJson } from '../body.js';
import type { AppEnv, ServerContext } from '../context.js';
import { routeSteps } from '../hono-steps.js';
import { pageBody, pageStream } from '../page-body.js';
import { openStream } from './stream.js';

/** A page answer (pageBody): as c.json does for a page of small records, else streamed. */
function pageAnswer(c: Context<AppEnv>, result: { serverChanges: ServerChange[] }): Response {
  if (!result.serverChanges.some((change) => change instanceof RawChange)) return c.json(result);
  const body = pageBody(result);
  c.header('Content-Length', String(body.bytes));
  return c.body(pageStream(body), 200, { 'Content-Type': 'application/json' });
}

/**
 * `POST /sync/{appId}` (push), `GET /sync/{appId}/pull` and `GET /sync/{appId}/stream` (SSE:
 * stream.ts). Most pushes are served by push-endpoint.ts before Hono sees them; the push
 * route here serves the rest (a chunked body, a percent-encoded or invalid app id) with the
 * same code.
 */
export function syncRoutes(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  /** The steps before the body (steps.ts); `admit`: push and pull wait for the user's turn, a stream does not. */
  const begin = (c: Context<AppEnv>, admit = true) => routeSteps(ctx, c, admit);

  app.post(ROUTE.push, async (c) => {
    const { userId, appId } = await begin(c);
    return pageAnswer(c, await runPush(ctx, userId, appId, await readJson(c), c.req.header(HEADER.clientId)));
  });

  app.get(ROUTE.pull, async (c) => {
    const { userId, appId } = await begin(c);
    return pageAnswer(c, await runPull(ctx, userId, appId, c.req.query(), c.req.header(HEADER.clientId)));
  });

  app.get(ROUTE.stream, async (c) => openStream(ctx, c, await begin(c, false)));

  const methodNotAllowed = (allowed: string) => (c: Context<AppEnv>) => {
    c.header('Allow', allowed);
    return c.json(
      new SyncError('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed here; use ${allowed}`).toBody(),
      405,
    );
  };
  app.all(ROUTE.pull, methodNotAllowed('GET'));
  app.all(ROUTE.stream, methodNotAllowed('GET'));
  app.all(ROUTE.push, methodNotAllowed('POST'));

  return app;
}
