import type { ServerResponse } from 'node:http';
import {
  canonicalize,
  clientIdSchema,
  EPOCH,
  HEADER,
  LIMITS,
  SyncError,
  streamQuerySchema,
} from '@mana/sync-protocol';
import type { Context } from 'hono';
import { SseStream } from '../../stream/sse-stream.js';
import type { AppEnv, ServerContext } from '../context.js';
import { requestError, zodToSyncError } from '../errors.js';

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
 * `GET /sync/{appId}/stream?collections=a,b&since=&limit=`, after `begin` (auth, rate limit,
 * app id). Everything that can be refused is refused here, before a byte of the stream:
 * 400 for a bad X-Client-Id or query, 429 TOO_MANY_STREAMS over the per-user cap.
 */
export function openStream(
  ctx: ServerContext,
  c: Context<AppEnv>,
  caller: { userId: string; appId: string },
): Response {
  const { userId, appId } = caller;
  const clientId = clientIdOf(c.req.header(HEADER.clientId));
  const parsed = streamQuerySchema.safeParse(c.req.query());
  if (!parsed.success) throw zodToSyncError(parsed.error);
  const q = parsed.data;
  if (!ctx.streams.hasRoom(userId)) {
    ctx.metrics.sseStreamsRefused.inc();
    throw new SyncError(
      'TOO_MANY_STREAMS',
      `at most ${ctx.config.sseMaxStreamsPerUser} open streams per user; close one first`,
    );
  }
  // Hono answers HEAD with the GET handler and drops the body unread: a stream made for it
  // would never be read nor cancelled.
  if (c.req.method === 'HEAD') return c.body(null, 200, STREAM_HEADERS);
  const requestId = c.get('requestId');
  const limit = q.limit ?? LIMITS.defaultPullLimit;
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const openedAt = Date.now();
  let blocks = 0;
  const stream = new SseStream({
    appId,
    clientId,
    tables: [...new Set(q.collections)],
    since: q.since ? canonicalize(q.since)! : EPOCH,
    expiresAt: c.get('principal')?.expiresAt,
    heartbeatMs: ctx.config.sseHeartbeatMs,
    pull: (table, since) => {
      // The one place the stream's echo key goes in: PullInput gains `clientId` (null: nothing
      // left out) with the store's echo rule. A variable, not a literal, so this compiles
      // before and after that change.
      const input = { userId, appId, table, since, limit, clientId: clientId ?? null };
      return ctx.store.pull(input);
    },
    subscribe: (listener) => ctx.pushedEvents.subscribe(userId, listener),
    onBlock: (changes) => {
      blocks++;
      ctx.limiter.charge(userId, changes);
      ctx.metrics.sseBlocksSent.inc();
      if (changes > 0)
        ctx.metrics.sseChangesSent.inc({ app: ctx.metrics.appLabelWithData(appId, userId) }, changes);
    },
    onEnd: (reason, err) => {
      ctx.streams.remove(userId, stream);
      ctx.metrics.sseStreams.dec();
      if (err !== undefined) requestError(ctx.logger, requestId, err); // logs an outage or a bug
      ctx.logger.info(
        {
          reqId: requestId,
          userId,
          appId,
          reason,
          blocks,
          seconds: Math.round((Date.now() - openedAt) / 1000),
        },
        'stream ended',
      );
    },
    // Only a response still being written: once finished, its socket may carry the next request.
    abort: outgoing ? () => void (outgoing.writableFinished || outgoing.destroy()) : undefined,
  });
  ctx.streams.add(userId, stream);
  ctx.metrics.sseStreams.inc();
  return c.body(stream.body, 200, STREAM_HEADERS);
}

function clientIdOf(raw: string | undefined): string | undefined {
  if (raw === undefined || clientIdSchema.safeParse(raw).success) return raw;
  throw new SyncError('INVALID_REQUEST', 'X-Client-Id: letters, digits and _ . : @ + = ~ -', 'X-Client-Id');
}
