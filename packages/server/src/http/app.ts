import type { IncomingMessage, RequestListener } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { HEADER, ROUTE, SyncError } from '@mana/sync-protocol';
import { Hono } from 'hono';
import { matchedRoutes } from 'hono/route';
import { requestError } from '../sync/errors.js';
import { ClientClosedError } from './body.js';
import type { AppEnv, ServerContext } from './context.js';
import { type Cors, createCors } from './cors.js';
import { errorResponse } from './errors.js';
import { setResponseHeader } from './headers.js';
import { stepsMiddleware } from './hono-steps.js';
import { pushEndpoint } from './push-endpoint.js';
import { finishRequest, requestIdFrom } from './request-log.js';
import { devRoutes } from './routes/dev.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { syncRoutes } from './routes/sync.js';
import { ARRIVAL_STEPS, closesConnection } from './steps.js';

/**
 * The node:http request listener: `POST /sync/{appId}` straight on node:http (push-endpoint.ts,
 * the hot path), everything else, and any push it leaves alone, through the Hono app below.
 */
export function createRequestListener(ctx: ServerContext): RequestListener {
  const cors = createCors({
    origins: ctx.config.corsOrigins,
    allowHeaders: ['Authorization', 'Content-Type', 'X-Client-Id', 'X-Request-Id'],
    exposeHeaders: ['X-Request-Id', 'Retry-After'],
    maxAgeSeconds: 600,
  });
  const hono = getRequestListener(createApp(ctx, cors).fetch);
  const push = pushEndpoint(ctx, cors);
  return (req, res) => {
    if (ctx.connections && !ctx.connections.admitRequest(req, res)) return;
    if (!push(req, res)) void hono(req, res);
  };
}

/**
 * The HTTP surface. Middleware order matters:
 *   request id → log line → CORS → shutdown gate → /sync/*: ARRIVAL_STEPS → routes (ROUTE_STEPS:
 *   caller → rate limit → app id → turn; then the body, counted as it arrives → handler).
 * The steps are steps.ts's, which push-endpoint.ts runs too. No byte of a body is read before auth.
 * Every error leaves as `{ error: { code, message, path? } }` (see @mana/sync-protocol errors.ts).
 */
function createApp(ctx: ServerContext, cors: Cors): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const requestId = requestIdFrom(c.req.header(HEADER.requestId));
    c.set('requestId', requestId);
    setResponseHeader(c, 'X-Request-Id', requestId);
    const startedAt = performance.now();
    await next();
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    // As the fast path does for the same abort (push-endpoint.ts): nobody to answer, nothing to count.
    if (c.get('clientClosed')) {
      ctx.logger.debug(
        { reqId: requestId, method: c.req.method, route: routeOf(c) },
        'client closed mid-request',
      );
      return;
    }
    if (closesConnection(ctx, c.res.status, incoming)) c.res.headers.set('Connection', 'close');
    finishRequest(ctx, {
      requestId,
      method: c.req.method,
      route: routeOf(c),
      status: c.res.status,
      startedAt,
      principal: c.get('principal'),
      appId: c.get('appId'),
      incoming,
    });
  });

  app.use('*', cors.middleware);

  app.use('*', async (c, next) => {
    if (ctx.shuttingDown && c.req.path !== '/health') {
      c.header('Connection', 'close');
      throw new SyncError('SHUTTING_DOWN', 'the server is shutting down; retry shortly');
    }
    await next();
  });

  app.use('/sync/*', stepsMiddleware(ctx, ARRIVAL_STEPS));

  app.route('/', syncRoutes(ctx));
  app.route('/', healthRoutes(ctx));
  app.route('/', metricsRoutes(ctx));
  if (ctx.devIssuer) app.route('/', devRoutes(ctx, ctx.devIssuer));

  // A WebSocket route reached without an upgrade (realtime/attach.ts serves the upgrades): say what it needs.
  for (const route of [ROUTE.wsUnified, `${ROUTE.wsUnified}/`, ROUTE.wsLegacy])
    app.get(route, (c) => {
      c.header('Upgrade', 'websocket');
      return errorResponse(
        c,
        new SyncError('UPGRADE_REQUIRED', `${c.req.path} is a WebSocket endpoint: send Upgrade: websocket`),
      );
    });

  app.notFound((c) => errorResponse(c, new SyncError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    if (err instanceof ClientClosedError) {
      c.set('clientClosed', true);
      return c.body(null, 400); // never sent: the socket is gone
    }
    return errorResponse(c, requestError(ctx.logger, c.get('requestId'), err));
  });

  return app;
}

/** The route template (`/sync/:appId`), never the raw path: bounded log and metric labels. */
function routeOf(c: Parameters<typeof matchedRoutes>[0]): string {
  const handlers = matchedRoutes(c).filter((r) => r.method !== 'ALL' && r.path !== '/*');
  return handlers.at(-1)?.path ?? 'unmatched';
}
