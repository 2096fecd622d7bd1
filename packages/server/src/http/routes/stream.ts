import type { ServerResponse } from 'node:http';
import { HEADER } from '@mana/sync-protocol';
import type { Context } from 'hono';
import { startStream, streamRequest } from '../../sync/stream.js';
import type { AppEnv, ServerContext } from '../context.js';

/**
 * The headers of a stream: no caching, and no buffering by a proxy (nginx reads
 * X-Accel-Buffering). `Connection: close`: a stream holds its connection for its whole life,
 * and when it ends (shutdown, token expiry) the connection goes with it instead of idling as
 * keep-alive, which would hold a shutting-down server open; the client reconnects anyway.
 */
const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
  Connection: 'close',
};

/**
 * `GET /sync/{appId}/stream`, after `begin` (auth, rate limit, app id): what can be refused is
 * refused by sync/stream.ts before a byte is written; then the stream's body is the answer.
 */
export function openStream(
  ctx: ServerContext,
  c: Context<AppEnv>,
  caller: { userId: string; appId: string },
): Response {
  const request = streamRequest(ctx, caller, c.req.header(HEADER.clientId), c.req.query());
  // Hono answers HEAD with the GET handler and drops the body unread: a stream made for it
  // would never be read nor cancelled.
  if (c.req.method === 'HEAD') return c.body(null, 200, STREAM_HEADERS);
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const stream = startStream(ctx, request, {
    requestId: c.get('requestId'),
    expiresAt: c.get('principal')?.expiresAt,
    // Only a response still being written: once finished, its socket may carry the next request.
    abort: outgoing ? () => void (outgoing.writableFinished || outgoing.destroy()) : undefined,
  });
  return c.body(stream.body, 200, STREAM_HEADERS);
}
