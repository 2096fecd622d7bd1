import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  appIdSchema,
  canonicalize,
  clientIdSchema,
  EPOCH,
  HEADER,
  isAppId,
  LIMITS,
  type PushResponse,
  parsePushRequest,
  pullQuerySchema,
  ROUTE,
  type ServerChange,
  SUPPORTED_SCHEMA_VERSION,
  SyncError,
  unsupportedSchemaVersion,
} from '@mana/sync-protocol';
import { type Context, Hono } from 'hono';
import type { Principal } from '../../auth/auth.js';
import { clientAddress } from '../../client-address.js';
import { RawChange } from '../../store/raw-change.js';
import { readJson } from '../body.js';
import type { AppEnv, ServerContext } from '../context.js';
import { zodToSyncError } from '../errors.js';
import { pageBody, pageStream } from '../page-body.js';
import { openStream } from './stream.js';

/** The app id from the path; zod only when the quick check refuses it, to name the problem. */
export function appIdOf(raw: string | undefined): string {
  if (isAppId(raw)) return raw;
  const parsed = appIdSchema.safeParse(raw);
  if (!parsed.success) throw zodToSyncError(parsed.error, 'appId');
  return parsed.data;
}

export interface RequestHeaders {
  authorization?: string | undefined;
  serviceKey?: string | undefined;
  userId?: string | undefined;
}

/**
 * Who is asking. Shared by both paths that serve /sync (Hono and push-endpoint.ts), which
 * then take the rate limit and check the app id, in that order: a stranger learns nothing
 * about the request.
 */
export async function authenticate(
  ctx: ServerContext,
  headers: RequestHeaders,
  requestId: string,
  address: string,
): Promise<Principal> {
  let principal: Principal;
  try {
    principal = await ctx.auth.authenticate(headers, address);
  } catch (err) {
    // Every use of the service key is logged, refused ones too (never the key itself).
    if (headers.serviceKey !== undefined) {
      ctx.logger.warn({ reqId: requestId, reason: (err as Error).message }, 'service key refused');
    }
    throw err;
  }
  if (principal.via === 'service') {
    ctx.logger.info({ reqId: requestId, userId: principal.userId }, 'service key used');
  }
  return principal;
}

/** An X-Client-Id header's value, or a 400 naming it. */
export function checkedClientId(value: string): string {
  if (!clientIdSchema.safeParse(value).success) {
    throw new SyncError('INVALID_REQUEST', 'X-Client-Id: letters, digits and _ . : @ + = ~ -', 'X-Client-Id');
  }
  return value;
}

/** A push body (parsed JSON, not yet checked) merged into the user's data: the response body. */
export async function runPush(
  ctx: ServerContext,
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
    const event = { userId, appId, tables: result.tablesChanged, clientId };
    for (const listener of ctx.onPushed) listener(event);
  }
  return {
    serverChanges: result.serverChanges,
    conflicts: result.conflicts,
    syncedUntil: result.syncedUntil,
    hasMore: result.hasMore,
  };
}

/** A page answer (pageBody): as c.json does for a page of small records, else streamed. */
function pageAnswer(c: Context<AppEnv>, result: { serverChanges: ServerChange[] }): Response {
  if (!result.serverChanges.some((change) => change instanceof RawChange)) return c.json(result);
  const body = pageBody(result);
  c.header('Content-Length', String(body.bytes));
  return c.body(pageStream(body), 200, { 'Content-Type': 'application/json' });
}

/**
 * `POST /sync/{appId}` (push), `GET /sync/{appId}/pull` and `GET /sync/{appId}/stream` (SSE:
 * stream.ts). Most pushes are served by push-endpoint.ts before Hono sees them; the push
 * route here serves the rest (a chunked body, a percent-encoded or invalid app id) with the
 * same code.
 */
export function syncRoutes(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  /** `admit`: push and pull wait for the user's turn (admission.ts); a stream does not. */
  async function begin(c: Context<AppEnv>, admit = true) {
    const headers = {
      authorization: c.req.header(HEADER.authorization),
      serviceKey: c.req.header(HEADER.serviceKey),
      userId: c.req.header(HEADER.userId),
    };
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const address = incoming ? clientAddress(incoming, ctx.config.trustProxy) : 'unknown';
    const principal = await authenticate(ctx, headers, c.get('requestId'), address);
    c.set('principal', principal);
    ctx.limiter.take(principal.userId, undefined, !admit);
    const appId = appIdOf(c.req.param('appId'));
    c.set('appId', appId);
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (admit && outgoing) await ctx.admission.admit(principal.userId, outgoing);
    return { userId: principal.userId, appId };
  }

  app.post(ROUTE.push, async (c) => {
    const { userId, appId } = await begin(c);
    return pageAnswer(c, await runPush(ctx, userId, appId, await readJson(c), c.req.header(HEADER.clientId)));
  });

  app.get(ROUTE.pull, async (c) => {
    const { userId, appId } = await begin(c);
    const header = c.req.header(HEADER.clientId);
    const clientId = header === undefined ? undefined : checkedClientId(header);
    const parsed = pullQuerySchema.safeParse(c.req.query());
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
    ctx.limiter.charge(userId, result.serverChanges.length);
    return pageAnswer(c, result);
  });

  app.get(ROUTE.stream, async (c) => openStream(ctx, c, await begin(c, false)));

  const methodNotAllowed = (allowed: string) => (c: Context<AppEnv>) => {
    c.header('Allow', allowed);
    return c.json(
      new SyncError('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed here; use ${allowed}`).toBody(),
      405,
    );
  };
  app.all(ROUTE.pull, methodNotAllowed('GET'));
  app.all(ROUTE.stream, methodNotAllowed('GET'));
  app.all(ROUTE.push, methodNotAllowed('POST'));

  return app;
}
