import {
  canonicalize,
  EPOCH,
  LIMITS,
  type PushResponse,
  parsePushRequest,
  SUPPORTED_SCHEMA_VERSION,
  SyncError,
  unsupportedSchemaVersion,
} from '@mana/sync-protocol';
import type { SyncContext } from './context.js';
import { zodToSyncError } from './errors.js';
import { checkedClientId } from './request.js';

/**
 * A push body (parsed JSON, not yet checked) merged into the user's data: the response body.
 * After it commits, its event is published (pushed-events.ts): the user's other sockets and
 * streams, here and on every instance, hear of it.
 */
export async function runPush(
  ctx: SyncContext,
  userId: string,
  appId: string,
  json: unknown,
  headerClientId: string | undefined,
): Promise<PushResponse> {
  const parsed = parsePushRequest(json);
  if (!parsed.success) throw zodToSyncError(parsed.error);
  const body = parsed.data;
  const newer = unsupportedSchemaVersion(body);
  if (newer !== null) {
    throw new SyncError(
      'SCHEMA_VERSION_UNSUPPORTED',
      `this server supports change schema versions up to ${SUPPORTED_SCHEMA_VERSION}`,
      newer,
    );
  }
  // Whose writes the answer leaves out: X-Client-Id, else the body's clientId (as the Go
  // service did). A header that is not a client id is refused like the body's would be.
  const clientId =
    headerClientId === undefined || headerClientId === body.clientId
      ? body.clientId
      : checkedClientId(headerClientId);
  ctx.metrics.pushBatchSize.observe('', body.changes.length);
  const result = await ctx.store.push({
    userId,
    appId,
    clientId,
    since: body.since ? canonicalize(body.since)! : EPOCH,
    changes: body.changes,
    nowMicros: Date.now() * 1000,
    maxSkewMicros: ctx.config.maxClockSkewMs * 1000,
    limit: LIMITS.defaultPullLimit,
    ...(body.schemaVersion !== undefined ? { schemaVersion: body.schemaVersion } : {}),
  });
  // Only what moved: each label lookup costs about a microsecond on the small-push path. The
  // label after the push, not before: an accepted change or a conflict (a stored value won)
  // means the app has data, and only such apps may take one of the METRICS_MAX_APPS labels.
  if (result.changesAccepted > 0 || result.fieldsAccepted > 0 || result.conflicts.length > 0) {
    const app = ctx.metrics.appLabelWithData(appId, userId);
    if (result.changesAccepted > 0) ctx.metrics.changesPushed.inc({ app }, result.changesAccepted);
    if (result.fieldsAccepted > 0) ctx.metrics.fieldsAccepted.inc({ app }, result.fieldsAccepted);
    if (result.conflicts.length > 0) ctx.metrics.conflicts.inc({ app }, result.conflicts.length);
  }
  if (result.overtaken) ctx.metrics.pushesOvertaken.inc();
  // Rows read (the batch's stored records, the page: sent or skipped, and its index probes,
  // two a table) and written, for RATE_LIMIT_ROWS.
  ctx.limiter.charge(
    userId,
    body.changes.length + result.recordsWritten + result.pageRowsRead + result.indexProbes,
  );
  // Committed: now, and only now, tell the other clients.
  if (result.tablesChanged.length > 0) {
    ctx.pushedEvents.publish({ userId, appId, tables: result.tablesChanged, clientId });
  }
  return {
    serverChanges: result.serverChanges,
    conflicts: result.conflicts,
    syncedUntil: result.syncedUntil,
    hasMore: result.hasMore,
  };
}
