import type { MiddlewareHandler } from 'hono';
import { setResponseHeader } from './headers.js';

export interface CorsOptions {
  origins: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds: number;
}

// The methods hono/cors allows by default.
const ALLOW_METHODS = 'GET,HEAD,PUT,POST,DELETE,PATCH,QUERY';

/**
 * CORS for a list of allowed origins: the same headers as hono/cors, set before the handler
 * runs (headers.ts). Why not hono/cors: it writes to `c.res.headers` before and after
 * the handler, which makes Hono rebuild the response and turns @hono/node-server's
 * string-body fast path into a web-stream copy on every request (see docs/benchmarks.md).
 */
export function cors(opts: CorsOptions): MiddlewareHandler {
  const allowed = new Set(opts.origins);
  const allowHeaders = opts.allowHeaders.join(',');
  const exposeHeaders = opts.exposeHeaders.join(',');
  return async (c, next) => {
    const origin = c.req.header('origin');
    const allowOrigin = origin && allowed.has(origin) ? origin : undefined;
    if (c.req.method === 'OPTIONS') {
      const headers: Record<string, string> = {
        'Access-Control-Expose-Headers': exposeHeaders,
        Vary: 'Origin, Access-Control-Request-Headers',
        'Access-Control-Max-Age': String(opts.maxAgeSeconds),
        'Access-Control-Allow-Methods': ALLOW_METHODS,
        'Access-Control-Allow-Headers': allowHeaders,
      };
      if (allowOrigin) headers['Access-Control-Allow-Origin'] = allowOrigin;
      return c.body(null, 204, headers);
    }
    if (allowOrigin) setResponseHeader(c, 'Access-Control-Allow-Origin', allowOrigin);
    setResponseHeader(c, 'Access-Control-Expose-Headers', exposeHeaders);
    setResponseHeader(c, 'Vary', 'Origin');
    await next();
  };
}
