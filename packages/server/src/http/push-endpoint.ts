import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isAppId, ROUTE, SyncError } from '@mana/sync-protocol';
import type { Principal } from '../auth/auth.js';
import { requestError } from '../sync/errors.js';
import { runPush } from '../sync/push.js';
import type { ServerContext } from './context.js';
import type { Cors } from './cors.js';
import { errorHeaders } from './errors.js';
import { type PageBody, pageBody, writePage } from './page-body.js';
import { finishRequest, requestIdFrom } from './request-log.js';
import {
  ARRIVAL_STEPS,
  closesConnection,
  ROUTE_STEPS,
  runSteps,
  type Step,
  type SyncRequest,
} from './steps.js';

const PUSH_PATH = /^\/sync\/([^/?#]+)(?:\?.*)?$/;
const DIGITS = /^\d+$/;

/**
 * `POST /sync/{appId}` on node:http, in front of Hono: the request every client sends most.
 *
 * Why: Hono's adapter turns each request into a WHATWG Request and each answer into a
 * Response; on a small push that was half the server's CPU (benchmarks: a bare Hono app
 * needs 1.8 times the CPU of a node:http JSON echo before any of our code runs). Here the
 * push goes from the socket to `runPush` and back with nothing in between, through the same
 * steps as the Hono app, from the same definition: request id (request-log.ts), the steps
 * before the body (steps.ts: declared length, caller, rate limit, app id, the user's turn),
 * the body, JSON, the push (sync/push.ts), then CORS headers (cors.ts), the error answer
 * (errors.ts), the connection rule (steps.ts) and the metrics and log line (request-log.ts).
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
    const r = new InFlight(req, res, headers, appId);
    let waiting: void | Promise<void>;
    try {
      waiting = runSteps(ctx, PUSH_STEPS, r);
    } catch (err) {
      void answer(ctx, cors, r, refusal(err));
      return true;
    }
    // The body only now, the caller known and admitted; it waits in the socket meanwhile.
    if (waiting)
      waiting.then(
        () => readBody(ctx, cors, r),
        (err: unknown) => void answer(ctx, cors, r, refusal(err)),
      );
    else readBody(ctx, cors, r);
    return true;
  };
}

/** Every step before the body, in the order the Hono app runs them (steps.ts). */
const PUSH_STEPS: readonly Step[] = [...ARRIVAL_STEPS, ...ROUTE_STEPS];

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
 * No 'error' listener on req: a client that goes away mid-body makes it emit 'aborted' and
 * 'close', never 'error' (Node emits it only to a listener), and 'end' never comes.
 */
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

/** One request on this path, and what the steps learn of it (for the push, its metrics and log line). */
class InFlight implements SyncRequest {
  readonly requestId: string;
  readonly startedAt = performance.now();
  readonly admit = true;
  principal?: Principal | undefined;
  appId?: string | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly headers: IncomingHttpHeaders,
    /** From the path; plainly valid (pushTarget). */
    readonly rawAppId: string,
  ) {
    this.requestId = requestIdFrom(header(headers, 'x-request-id'));
  }

  get incoming(): IncomingMessage {
    return this.req;
  }

  get outgoing(): ServerResponse {
    return this.res;
  }

  header(name: string): string | undefined {
    return header(this.headers, name);
  }
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
    if (closesConnection(ctx, status, r.req)) headers.push('Connection', 'close');
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
