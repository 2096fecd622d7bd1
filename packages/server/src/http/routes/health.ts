import { ROUTE } from '@mana/sync-protocol';
import { Hono } from 'hono';
import type { AppEnv, ServerContext } from '../context.js';

/** `GET /health`: 200 when the database answers, 503 when it does not (load balancers drain us). */
export function healthRoutes(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(ROUTE.health, async (c) => {
    let database: 'up' | 'down' = 'up';
    try {
      await withTimeout(ctx.store.ping(), 2000);
    } catch {
      database = 'down';
    }
    const ok = database === 'up' && !ctx.shuttingDown;
    const body = {
      status: ok ? 'ok' : ctx.shuttingDown ? 'shutting-down' : 'degraded',
      database,
      store: ctx.store.db.kind,
      version: ctx.version,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
      ...Object.assign({}, ...ctx.healthSections.map((section) => section())),
    };
    if (!ok) c.header('Retry-After', '2');
    return c.json(body, ok ? 200 : 503);
  });
  return app;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
