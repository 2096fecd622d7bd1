import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';

/**
 * Sets a header on whatever response this request gets (the handler's or an error).
 *
 * On Node it goes straight onto the ServerResponse, and `writeHead()` merges it with the
 * response's own headers. Hono's `c.header()` would make a WHATWG `Headers` object for every
 * response, which @hono/node-server then turns back into a plain object: measurable on the
 * small-push path, where every request carries X-Request-Id and CORS headers.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}
