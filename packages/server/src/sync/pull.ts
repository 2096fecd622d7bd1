import { canonicalize, EPOCH, LIMITS, pullQuerySchema } from '@mana/sync-protocol';
import type { PullResult } from '../store/sync-store.js';
import type { SyncContext } from './context.js';
import { zodToSyncError } from './errors.js';
import { checkedClientId } from './request.js';

/** `GET /sync/{appId}/pull`: one page of a table after the query's cursor. */
export async function runPull(
  ctx: SyncContext,
  userId: string,
  appId: string,
  query: Record<string, string>,
  headerClientId: string | undefined,
): Promise<PullResult> {
  const clientId = headerClientId === undefined ? undefined : checkedClientId(headerClientId);
  const parsed = pullQuerySchema.safeParse(query);
  if (!parsed.success) throw zodToSyncError(parsed.error);
  const q = parsed.data;
  const result = await ctx.store.pull({
    userId,
    appId,
    table: q.collection,
    since: q.since ? canonicalize(q.since)! : EPOCH,
    limit: q.limit ?? LIMITS.defaultPullLimit,
    clientId: clientId ?? null,
  });
  // Records returned: the app has data. An empty pull names no app (and adds no label).
  if (result.serverChanges.length > 0) {
    const app = ctx.metrics.appLabelWithData(appId, userId);
    ctx.metrics.recordsPulled.inc({ app }, result.serverChanges.length);
  }
  // Rows read, sent or skipped by the echo rule, for RATE_LIMIT_ROWS.
  ctx.limiter.charge(userId, result.rowsRead);
  return { serverChanges: result.serverChanges, syncedUntil: result.syncedUntil, hasMore: result.hasMore };
}
