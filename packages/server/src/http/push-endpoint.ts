import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isAppId, LIMITS, ROUTE, SyncError } from '@mana/sync-protocol';
import type { Principal } from '../auth/auth.js';
import type { ServerContext } from './context.js';
import type { Cors } from './cors.js';
import { errorHeaders, requestError } from './errors.js';
import { finishRequest, requestIdFrom } from './request-log.js';
import { appIdOf, authenticate, runPush } from './routes/sync.js';

const PUSH_PATH = /^\/sync\/([^/?#]+)(?:\?.*)?$/;
const DIGITS = /^\d+$/;

/**
 * `POST /sync/{appId}` on node:http, in front of Hono: the request every client sends most.
 *
 * Why: Hono's adapter turns each request into a WHATWG Request and each answer into a
 * Response; on a small push that was half the server's CPU (benchmarks: a bare Hono app
 * needs 1.8 times the CPU of a node:http JSON echo before any of our code runs). Here the
 * push goes from the socket to `runPush` and back with nothing in between, and with the same
 * steps, in the same order, as the Hono middleware chain (app.ts): request id, CORS headers,
 * body limit, auth, rate limit, app id, JSON, push, metrics and log line; the two share every
 * step's code (request-log.ts, cors.ts, errors.ts, routes/sync.ts).
 *
 * Returns false, and touches nothing, for any request it does not take: another route or
 * method, an app id that is not plainly valid (Hono names the problem), a body without a
 * Content-Length (chunked: Hono counts it as it arrives), or a server shutting down.
 */
export function pushEndpoint(ctx: ServerContext, cors: Cors) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (ctx.shuttingDown) return false;
    const rawAppId = pushTarget(req.method, req.url, req.headers);
    if (rawAppId === undefined) return false;

    const startedAt = performance.now();
    const requestId = requestIdFrom(header(req, 'x-request-id'));
    req.on('error', () => {}); // the client went away; nothing to answer
    if (Number(req.headers['content-length']) > LIMITS.maxBodyBytes) {
      // Judged by the header, as the Hono path does: the body is never read.
      const tooLarge = new SyncError('PAYLOAD_TOO_LARGE', `body larger than ${LIMITS.maxBodyBytes} bytes`);
      answer(ctx, cors, req, res, { requestId, startedAt }, () => Promise.reject(tooLarge)).catch(
        failed(ctx, res, requestId),
      );
      return true;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      answer(ctx, cors, req, res, { requestId, startedAt }, async (seen) => {
        const authorization = header(req, 'authorization');
        const serviceKey = header(req, 'x-service-key');
        const principal =
          (serviceKey === undefined ? ctx.auth.cached(authorization) : undefined) ??
          (await authenticate(
            ctx,
            { authorization, serviceKey, userId: header(req, 'x-user-id') },
            requestId,
          ));
        seen.principal = principal;
        ctx.limiter.take(principal.userId);
        const appId = appIdOf(rawAppId);
        seen.appId = appId;
        return JSON.stringify(await runPush(ctx, principal.userId, appId, parseJson(body)));
      }).catch(failed(ctx, res, requestId));
    });
    return true;
  };
}

/**
 * The app id of a request this path takes: `POST /sync/{appId}` with a plainly valid app id
 * and a body of declared length. Undefined: Hono serves it.
 */
export function pushTarget(
  method: string | undefined,
  url: string | undefined,
  headers: IncomingHttpHeaders,
): string | undefined {
  if (method !== 'POST') return undefined;
  const rawAppId = PUSH_PATH.exec(url ?? '')?.[1];
  if (!rawAppId || !isAppId(rawAppId)) return undefined;
  const length = headers['content-length'];
  if (length === undefined || headers['transfer-encoding'] !== undefined || !DIGITS.test(length))
    return undefined;
  return rawAppId;
}

interface Seen {
  principal?: Principal;
  appId?: string;
}

/** Runs `serve` for the response body, or turns what it throws into the error answer. */
async function answer(
  ctx: ServerContext,
  cors: Cors,
  req: IncomingMessage,
  res: ServerResponse,
  r: { requestId: string; startedAt: number },
  serve: (seen: Seen) => Promise<string>,
): Promise<void> {
  const seen: Seen = {};
  const headers = cors.headers(header(req, 'origin'));
  headers['X-Request-Id'] = r.requestId;
  let status = 200;
  let out: string;
  try {
    out = await serve(seen);
  } catch (err) {
    const e = requestError(ctx.logger, r.requestId, err);
    status = e.status;
    Object.assign(headers, errorHeaders(e));
    out = JSON.stringify(e.toBody());
  }
  headers['Content-Type'] = 'application/json';
  headers['Content-Length'] = String(Buffer.byteLength(out));
  // Shutting down: this connection closes after the response, so the server drains quickly.
  if (ctx.shuttingDown) headers.Connection = 'close';
  if (!res.destroyed) res.writeHead(status, headers).end(out);
  finishRequest(ctx, {
    requestId: r.requestId,
    method: 'POST',
    route: ROUTE.push,
    status,
    startedAt: r.startedAt,
    principal: seen.principal,
    appId: seen.appId,
  });
}

/** Last resort: `answer` itself failed (a bug); the client gets a bare 500, the log the stack. */
function failed(ctx: ServerContext, res: ServerResponse, requestId: string) {
  return (err: unknown) => {
    ctx.logger.error({ reqId: requestId, err: String((err as Error)?.stack ?? err) }, 'INTERNAL');
    if (!res.headersSent && !res.destroyed) res.writeHead(500).end();
  };
}

/** One request header as a string (Node joins repeated ones with ", ", as fetch's Headers does). */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The body as JSON, decoded as fetch's `text()` does (UTF-8, a leading BOM dropped). */
function parseJson(body: Buffer): unknown {
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch {
    throw new SyncError('BAD_JSON', 'the body is not valid JSON');
  }
}
