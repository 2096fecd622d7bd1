import type { ServerResponse } from 'node:http';
import { HEADER } from '@mana/sync-protocol';
import type { Context } from 'hono';
import { startStream, streamRequest } from '../../sync/stream.js';
import type { AppEnv, ServerContext } from '../context.js';
import { SSE_HEADERS, sseBody } from '../sse.js';

/**
 * `GET /sync/{appId}/stream`, after `begin` (auth, rate limit, app id): what can be refused is
 * refused by sync/stream.ts before a byte is written; then the stream's events, as Server-Sent
 * Events (http/sse.ts), are the answer.
 */
export function openStream(
  ctx: ServerContext,
  c: Context<AppEnv>,
  caller: { userId: string; appId: string },
): Response {
  const request = streamRequest(ctx, caller, c.req.header(HEADER.clientId), c.req.query());
  // Hono answers HEAD with the GET handler and drops the body unread: a stream made for it
  // would never be read nor cancelled.
  if (c.req.method === 'HEAD') return c.body(null, 200, SSE_HEADERS);
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const feed = startStream(ctx, request, {
    requestId: c.get('requestId'),
    expiresAt: c.get('principal')?.expiresAt,
  });
  // Only a response still being written: once finished, its socket may carry the next request.
  const abort = outgoing ? () => void (outgoing.writableFinished || outgoing.destroy()) : undefined;
  return c.body(sseBody(feed, abort), 200, SSE_HEADERS);
}
