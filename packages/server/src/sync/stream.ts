import {
  type Canonical,
  canonicalize,
  EPOCH,
  LIMITS,
  SyncError,
  streamQuerySchema,
} from '@mana/sync-protocol';
import type { SyncContext } from './context.js';
import { requestError, zodToSyncError } from './errors.js';
import { checkedClientId } from './request.js';
import { StreamFeed } from './stream-feed.js';

/** A stream asked for and allowed: what it follows, from where. */
interface StreamRequest {
  userId: string;
  appId: string;
  clientId: string | undefined;
  tables: string[];
  since: Canonical;
  limit: number;
}

/**
 * `GET /sync/{appId}/stream?collections=a,b&since=&limit=`, after auth, rate limit and app id.
 * Everything that can be refused is refused here, before a byte of the stream: 400 for a bad
 * X-Client-Id or query, 429 TOO_MANY_STREAMS over the per-user cap.
 */
export function streamRequest(
  ctx: SyncContext,
  caller: { userId: string; appId: string },
  headerClientId: string | undefined,
  query: Record<string, string>,
): StreamRequest {
  const clientId = headerClientId === undefined ? undefined : checkedClientId(headerClientId);
  const parsed = streamQuerySchema.safeParse(query);
  if (!parsed.success) throw zodToSyncError(parsed.error);
  const q = parsed.data;
  if (!ctx.streams.hasRoom(caller.userId)) {
    ctx.metrics.sseStreamsRefused.inc();
    throw new SyncError(
      'TOO_MANY_STREAMS',
      `at most ${ctx.config.sseMaxStreamsPerUser} open streams per user; close one first`,
    );
  }
  return {
    ...caller,
    clientId,
    tables: [...new Set(q.collections)],
    since: q.since ? canonicalize(q.since)! : EPOCH,
    limit: q.limit ?? LIMITS.defaultPullLimit,
  };
}

/**
 * Opens the stream: pages from the store, wakes on the user's pushed events, charges the rate
 * limit, counts, logs its end. The transport frames the feed's events (http/sse.ts).
 */
export function startStream(
  ctx: SyncContext,
  r: StreamRequest,
  opts: {
    requestId: string;
    /** Token expiry in seconds since the epoch; undefined: never (service key). */
    expiresAt: number | undefined;
  },
): StreamFeed {
  const { userId, appId, clientId, limit } = r;
  const openedAt = Date.now();
  let blocks = 0;
  const stream = new StreamFeed({
    appId,
    clientId,
    tables: r.tables,
    since: r.since,
    expiresAt: opts.expiresAt,
    heartbeatMs: ctx.config.sseHeartbeatMs,
    pull: async (table, since) => {
      const page = await ctx.store.pull({ userId, appId, table, since, limit, clientId: clientId ?? null });
      // Rows read, sent or skipped by the echo rule, for RATE_LIMIT_ROWS.
      ctx.limiter.charge(userId, page.rowsRead);
      return page;
    },
    subscribe: (listener) => ctx.pushedEvents.subscribe(userId, listener),
    onBlock: (changes) => {
      blocks++;
      ctx.metrics.sseBlocksSent.inc();
      if (changes > 0)
        ctx.metrics.sseChangesSent.inc({ app: ctx.metrics.appLabelWithData(appId, userId) }, changes);
    },
    onEnd: (reason, err) => {
      ctx.streams.remove(userId, stream);
      ctx.metrics.sseStreams.dec();
      if (err !== undefined) requestError(ctx.logger, opts.requestId, err); // logs an outage or a bug
      ctx.logger.info(
        {
          reqId: opts.requestId,
          userId,
          appId,
          reason,
          blocks,
          seconds: Math.round((Date.now() - openedAt) / 1000),
        },
        'stream ended',
      );
    },
  });
  ctx.streams.add(userId, stream);
  ctx.metrics.sseStreams.inc();
  return stream;
}
