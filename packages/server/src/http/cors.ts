import type { MiddlewareHandler } from 'hono';
import { setResponseHeader } from './headers.js';

interface CorsOptions {
  origins: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds: number;
}

// The methods hono/cors allows by default.
const ALLOW_METHODS = 'GET,HEAD,PUT,POST,DELETE,PATCH,QUERY';

export interface Cors {
  /** Preflights answered, and the headers below set on every other response. */
  middleware: MiddlewareHandler;
  /**
   * The CORS headers of a response (not a preflight) to a request from `origin`, as a new
   * flat list (name, value, name, value...): the form node:http's writeHead takes fastest.
   */
  headers(origin: string | undefined): string[];
}

/**
 * CORS for a list of allowed origins: the headers of hono/cors (Expose-Headers only with an
 * allowed origin), set before the handler
 * runs (headers.ts). Why not hono/cors: it writes to `c.res.headers` before and after
 * the handler, which makes Hono rebuild the response and turns @hono/node-server's
 * string-body fast path into a web-stream copy on every request (see docs/benchmarks.md).
 * The push endpoint on node:http (push-endpoint.ts) sets the same `headers()`.
 */
export function createCors(opts: CorsOptions): Cors {
  const allowed = new Set(opts.origins);
  const allowHeaders = opts.allowHeaders.join(',');
  const exposeHeaders = opts.exposeHeaders.join(',');
  const allowOrigin = (origin: string | undefined) => (origin && allowed.has(origin) ? origin : undefined);
  const headers = (origin: string | undefined): string[] => {
    const allow = allowOrigin(origin);
    // Exposed headers only where a browser reads them, on a response it lets the page see:
    // one header less to build and validate on every other request (servers, the CLI).
    if (allow) {
      return [
        'Access-Control-Allow-Origin',
        allow,
        'Access-Control-Expose-Headers',
        exposeHeaders,
        'Vary',
        'Origin',
      ];
    }
    return ['Vary', 'Origin'];
  };
  const middleware: MiddlewareHandler = async (c, next) => {
    const origin = c.req.header('origin');
    if (c.req.method === 'OPTIONS') {
      const preflight: Record<string, string> = {
        'Access-Control-Expose-Headers': exposeHeaders,
        Vary: 'Origin, Access-Control-Request-Headers',
        'Access-Control-Max-Age': String(opts.maxAgeSeconds),
        'Access-Control-Allow-Methods': ALLOW_METHODS,
        'Access-Control-Allow-Headers': allowHeaders,
      };
      const allow = allowOrigin(origin);
      if (allow) preflight['Access-Control-Allow-Origin'] = allow;
      return c.body(null, 204, preflight);
    }
    const list = headers(origin);
    for (let i = 0; i < list.length; i += 2) setResponseHeader(c, list[i]!, list[i + 1]!);
    await next();
  };
  return { middleware, headers };
}
