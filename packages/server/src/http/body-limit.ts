import type { MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';

/**
 * Refuses bodies over `maxBytes` (via `onError`). A request that declares its length
 * (Content-Length, no Transfer-Encoding: every fetch/XHR with a string body) is judged by the
 * header alone and its body is later read straight from the socket; hono/body-limit would
 * first turn it into a web stream. Chunked bodies still go through hono/body-limit, which
 * counts the bytes as they arrive.
 */
export function bodyLimit(
  maxBytes: number,
  onError: Parameters<typeof honoBodyLimit>[0]['onError'],
): MiddlewareHandler {
  const streaming = honoBodyLimit({ maxSize: maxBytes, ...(onError ? { onError } : {}) });
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      if (Number(length) > maxBytes) return onError!(c);
      return next();
    }
    return streaming(c, next);
  };
}
