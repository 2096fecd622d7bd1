import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isAppId, LIMITS, ROUTE, SyncError } from '@mana/sync-protocol';
import type { Principal } from '../auth/auth.js';
import { clientAddress } from '../client-address.js';
import { authenticate } from '../sync/authenticate.js';
import { requestError } from '../sync/errors.js';
import { runPush } from '../sync/push.js';
import type { ServerContext } from './context.js';
import type { Cors } from './cors.js';
import { errorHeaders } from './errors.js';
import { type PageBody, pageBody, writePage } from './page-body.js';
import { finishRequest, requestIdFrom } from './request-log.js';

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
 * declared length, auth, rate limit, app id, body, JSON, push, metrics and log line; the two share every
 * step's code (request-log.ts, cors.ts, errors.ts, sync/).
 *
 * Returns false, and touches nothing, for any request it does not take: another route or
 * method, an app id that is not plainly valid (Hono names the problem), a body without a
 * Content-Length (chunked: Hono counts it as it arrives), or a server shutting down.
 */
export function pushEndpoint(ctx: ServerContext, cors: Cors) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (ctx.shuttingDown) return false;
    const headers = req.headers; // a getter: read once
    const appId = pushTarget(req.method, req.url, headers);
    if (appId === undefined) return false;

    const r: InFlight = {
      req,
      res,
      headers,
      requestId: requestIdFrom(header(headers, 'x-request-id')),
      startedAt: performance.now(),
      rawAppId: appId,
    };
    if (Number(headers['content-length']) > LIMITS.maxBodyBytes) {
      // Judged by the header, as the Hono path does: the body is never read.
      void answer(
        ctx,
        cors,
        r,
        refusal(new SyncError('PAYLOAD_TOO_LARGE', `body larger than ${LIMITS.maxBodyBytes} bytes`)),
      );
      return true;
    }
    // Auth from the headers first: not a byte of the body is read for a stranger.
    const authorization = header(headers, 'authorization');
    const serviceKey = header(headers, 'x-service-key');
    const known = serviceKey === undefined ? ctx.auth.cached(authorization, req.socket) : undefined;
    if (known) receive(ctx, cors, r, known);
    else
      authenticate(
        ctx,
        { authorization, serviceKey, userId: header(headers, 'x-user-id') },
        r.requestId,
        clientAddress(req, ctx.config.trustProxy),
      ).then(
        (principal) => receive(ctx, cors, r, principal),
        (err: unknown) => void answer(ctx, cors, r, refusal(err)),
      );
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

/**
 * The caller is known: rate limit and the user's turn, then the body. No 'error' listener on req: a client that
 * goes away mid-body makes it emit 'aborted' and 'close', never 'error' (Node emits it only to
 * a listener), and 'end' never comes.
 */
function receive(ctx: ServerContext, cors: Cors, r: InFlight, principal: Principal): void {
  r.principal = principal;
  let waiting: Promise<void> | undefined;
  try {
    ctx.limiter.take(principal.userId, undefined, false);
    // The user's turn (admission.ts); the body waits in the socket meanwhile.
    waiting = ctx.admission.admit(principal.userId, r.res);
  } catch (err) {
    void answer(ctx, cors, r, refusal(err));
    return;
  }
  // The app id, checked at this step on the Hono path (appIdOf): pushTarget took only one
  // that appIdOf returns as it is.
  r.appId = r.rawAppId;
  if (waiting)
    waiting.then(
      () => readBody(ctx, cors, r),
      (err: unknown) => void answer(ctx, cors, r, refusal(err)),
    );
  else readBody(ctx, cors, r);
}

function readBody(ctx: ServerContext, cors: Cors, r: InFlight): void {
  const chunks: Buffer[] = [];
  r.req.on('data', (chunk: Buffer) => chunks.push(chunk));
  r.req.on('end', () => void answer(ctx, cors, r, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
}

/** A request refused before its body was read: what it was refused with. */
interface Refusal {
  refused: unknown;
}
const refusal = (err: unknown): Refusal => ({ refused: err });

/** One request on this path, and what is known of it so far (for its metrics and log line). */
interface InFlight {
  req: IncomingMessage;
  res: ServerResponse;
  headers: IncomingHttpHeaders;
  requestId: string;
  startedAt: number;
  /** From the path; valid (pushTarget), taken as the push's app id once the caller is known. */
  rawAppId: string;
  principal?: Principal;
  appId?: string;
}

/**
 * Serves the push in `body` (or answers the refusal it is), turning what the push throws into
 * the error answer. Never rejects: a throw of its own (a bug) is logged and answered with a
 * bare 500. The headers go to writeHead as one flat list, which node:http walks without the
 * property lookups an object costs.
 */
async function answer(ctx: ServerContext, cors: Cors, r: InFlight, body: Buffer | Refusal): Promise<void> {
  try {
    const headers = cors.headers(header(r.headers, 'origin'));
    headers.push('X-Request-Id', r.requestId);
    let status = 200;
    let out: PageBody;
    try {
      if (!Buffer.isBuffer(body)) throw body.refused;
      out = pageBody(
        await runPush(ctx, r.principal!.userId, r.appId!, parseJson(body), header(r.headers, 'x-client-id')),
      );
    } catch (err) {
      const e = requestError(ctx.logger, r.requestId, err);
      status = e.status;
      for (const [name, value] of Object.entries(errorHeaders(e))) headers.push(name, value);
      const text = JSON.stringify(e.toBody());
      out = { chunks: [text], bytes: Buffer.byteLength(text) };
    }
    headers.push('Content-Type', 'application/json', 'Content-Length', String(out.bytes));
    // Shutting down: this connection closes after the response, so the server drains quickly.
    // Refused before its body was read: closed too, so the client cannot go on streaming it.
    if (ctx.shuttingDown || !r.req.complete) headers.push('Connection', 'close');
    if (!r.res.destroyed) {
      r.res.writeHead(status, headers);
      // One piece (every small page): ended at once, as before; a large record's, piece by piece.
      if (out.chunks.length === 1) r.res.end(out.chunks[0]);
      else await writePage(r.res, out);
    }
    finishRequest(ctx, {
      requestId: r.requestId,
      method: 'POST',
      route: ROUTE.push,
      status,
      startedAt: r.startedAt,
      principal: r.principal,
      appId: r.appId,
      incoming: r.req,
    });
  } catch (err) {
    ctx.logger.error({ reqId: r.requestId, err: String((err as Error)?.stack ?? err) }, 'INTERNAL');
    if (!r.res.headersSent && !r.res.destroyed) r.res.writeHead(500).end();
  }
}

/** One request header as a string (Node joins repeated ones with ", ", as fetch's Headers does). */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
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
