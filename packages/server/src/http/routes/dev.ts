import { ROUTE, SyncError } from '@mana/sync-protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import type { DevIssuer } from '../../auth/dev-issuer.js';
import { zodToSyncError } from '../../sync/errors.js';
import { readJson } from '../body.js';
import type { AppEnv, ServerContext } from '../context.js';

const tokenRequestSchema = z.object({
  user: z
    .string()
    .regex(/^[A-Za-z0-9_.:@+=~-]{1,256}$/)
    .default('dev-user'),
  ttl: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600)
    .default(24 * 3600),
});

/** Dev issuer routes, mounted only with MANA_SYNC_DEV_AUTH=1. */
export function devRoutes(ctx: ServerContext, issuer: DevIssuer): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(ROUTE.devJwks, (c) => c.json(issuer.jwks));
  app.post(ROUTE.devToken, async (c) => {
    const body = await readJson(c, {});
    const parsed = tokenRequestSchema.safeParse(body);
    if (!parsed.success) throw zodToSyncError(parsed.error);
    // A longer one would be minted only to be refused (TOKEN_LIFETIME): say so here.
    if (parsed.data.ttl > ctx.config.jwtMaxTtlS) {
      throw new SyncError(
        'INVALID_REQUEST',
        `ttl: at most ${ctx.config.jwtMaxTtlS} s (JWT_MAX_TTL_S)`,
        'ttl',
      );
    }
    const token = await issuer.mint(parsed.data.user, parsed.data.ttl);
    return c.json({ token, userId: parsed.data.user, expiresIn: parsed.data.ttl });
  });
  return app;
}
