import { ROUTE } from '@mana/sync-protocol';
import { Hono } from 'hono';
import { storeHealth } from '../../sync/health.js';
import type { AppEnv, ServerContext } from '../context.js';

/** `GET /health`: 200 when the database answers, 503 when it does not (load balancers drain us). */
export function healthRoutes(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(ROUTE.health, async (c) => {
    const { database, store } = await storeHealth(ctx);
    const ok = database === 'up' && !ctx.shuttingDown;
    const body = {
      status: ok ? 'ok' : ctx.shuttingDown ? 'shutting-down' : 'degraded',
      database,
      store,
      version: ctx.version,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
      ...Object.assign({}, ...ctx.healthSections.map((section) => section())),
    };
    if (!ok) c.header('Retry-After', '2');
    return c.json(body, ok ? 200 : 503);
  });
  return app;
}
