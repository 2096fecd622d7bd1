import { randomUUID } from 'node:crypto';
import { HEADER, LIMITS, SyncError } from '@mana/sync-protocol';
import { Hono } from 'hono';
import { matchedRoutes } from 'hono/route';
import { bodyLimit } from './body-limit.js';
import type { AppEnv, ServerContext } from './context.js';
import { cors } from './cors.js';
import { errorResponse, toSyncError } from './errors.js';
import { setResponseHeader } from './headers.js';
import { RateLimitedError } from './rate-limit.js';
import { devRoutes } from './routes/dev.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { syncRoutes } from './routes/sync.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9_.:@+=~-]{1,128}$/;

/**
 * The HTTP surface. Middleware order matters:
 *   request id → log line → CORS → shutdown gate → routes (auth → rate limit → body limit → handler)
 * Every error leaves as `{ error: { code, message, path? } }` (see @mana/sync-protocol errors.ts).
 */
export function createApp(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const given = c.req.header(HEADER.requestId);
    const requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    setResponseHeader(c, 'X-Request-Id', requestId);
    const started = performance.now();
    await next();
    const route = routeOf(c);
    const status = c.res.status;
    // Shutting down: this connection closes after the response, so the server drains quickly.
    if (ctx.shuttingDown) c.res.headers.set('Connection', 'close');
    const seconds = (performance.now() - started) / 1000;
    ctx.metrics.observeRequest(c.req.method, route, status, seconds);
    if (!ctx.logger.isLevelEnabled(status >= 500 ? 'error' : 'info')) return;
    const line = {
      reqId: requestId,
      method: c.req.method,
      route,
      status,
      ms: Math.round(seconds * 10_000) / 10,
      userId: c.get('principal')?.userId,
      via: c.get('principal')?.via,
      appId: c.get('appId'),
    };
    if (status >= 500) ctx.logger.error(line, 'request failed');
    else ctx.logger.info(line, 'request');
  });

  app.use(
    '*',
    cors({
      origins: ctx.config.corsOrigins,
      allowHeaders: ['Authorization', 'Content-Type', 'X-Client-Id', 'X-Request-Id'],
      exposeHeaders: ['X-Request-Id', 'Retry-After'],
      maxAgeSeconds: 600,
    }),
  );

  app.use('*', async (c, next) => {
    if (ctx.shuttingDown && c.req.path !== '/health') {
      c.header('Connection', 'close');
      throw new SyncError('SHUTTING_DOWN', 'the server is shutting down; retry shortly');
    }
    await next();
  });

  app.use(
    '/sync/*',
    bodyLimit(LIMITS.maxBodyBytes, (c) =>
      errorResponse(c, new SyncError('PAYLOAD_TOO_LARGE', `body larger than ${LIMITS.maxBodyBytes} bytes`)),
    ),
  );

  app.route('/', syncRoutes(ctx));
  app.route('/', healthRoutes(ctx));
  app.route('/', metricsRoutes(ctx));
  if (ctx.devIssuer) app.route('/', devRoutes(ctx, ctx.devIssuer));

  app.notFound((c) => errorResponse(c, new SyncError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    const e = toSyncError(err);
    if (e instanceof RateLimitedError) c.header('Retry-After', String(e.retryAfterSeconds));
    if (e.code === 'INTERNAL' || e.code === 'DB_UNAVAILABLE') {
      ctx.logger.error({ reqId: c.get('requestId'), err: String((err as Error)?.stack ?? err) }, e.code);
    }
    return errorResponse(c, e);
  });

  return app;
}

/** The route template (`/sync/:appId`), never the raw path: bounded log and metric labels. */
export function routeOf(c: Parameters<typeof matchedRoutes>[0]): string {
  const handlers = matchedRoutes(c).filter((r) => r.method !== 'ALL' && r.path !== '/*');
  return handlers.at(-1)?.path ?? 'unmatched';
}
