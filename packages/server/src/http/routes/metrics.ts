import { ROUTE } from '@mana/sync-protocol';
import { Hono } from 'hono';
import type { AppEnv, ServerContext } from '../context.js';

/**
 * `GET /metrics`: Prometheus text. Unauthenticated, like most scrape targets: it holds no user
 * data (labels are route templates, statuses and a bounded set of app ids). Keep it off the
 * public internet at the proxy if app ids are private.
 */
export function metricsRoutes(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(ROUTE.metrics, async (c) => {
    const body = await ctx.metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': ctx.metrics.registry.contentType });
  });
  return app;
}
