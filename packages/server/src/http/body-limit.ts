import type { Context, MiddlewareHandler } from 'hono';

/**
 * Refuses a body that declares more than `maxBytes` (Content-Length, no Transfer-Encoding:
 * every fetch/XHR with a string body), judged by the header alone. A chunked body is not read
 * here: hono/body-limit would read all of it before the route authenticates the caller, so a
 * stranger could make the server buffer 10 MB per connection. `readJson` (body.ts) counts its
 * bytes as they arrive, after auth.
 */
export function bodyLimit(maxBytes: number, onError: (c: Context) => Response): MiddlewareHandler {
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      if (Number(length) > maxBytes) return onError(c);
    }
    return next();
  };
}
