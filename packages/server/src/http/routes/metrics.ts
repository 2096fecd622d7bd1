import { createHash, timingSafeEqual } from 'node:crypto';
import { ROUTE, SyncError } from '@mana/sync-protocol';
import { Hono } from 'hono';
import type { AppEnv, ServerContext } from '../context.js';

/**
 * `GET /metrics`: Prometheus text. It holds no user data (labels are route templates,
 * statuses and a bounded set of app ids), so it is open unless METRICS_TOKEN is set; then a
 * scrape must send `Authorization: Bearer <METRICS_TOKEN>` (Prometheus: `authorization:
 * { credentials: ... }`), else 401 UNAUTHORIZED. Keep it off the public internet either way.
 */
export function metricsRoutes(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const expected = ctx.config.metricsToken ? sha256(`Bearer ${ctx.config.metricsToken}`) : undefined;
  app.get(ROUTE.metrics, async (c) => {
    // Constant time, length included: fixed-size digests are compared, never the raw strings.
    if (expected && !timingSafeEqual(sha256(c.req.header('authorization') ?? ''), expected)) {
      throw new SyncError('UNAUTHORIZED', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
    const body = await ctx.metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': ctx.metrics.registry.contentType });
  });
  return app;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
