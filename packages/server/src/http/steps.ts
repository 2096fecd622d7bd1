import type { IncomingMessage, ServerResponse } from 'node:http';
import { LIMITS, SyncError } from '@mana/sync-protocol';
import type { Principal } from '../auth/auth.js';
import { clientAddress } from '../client-address.js';
import { authenticate } from '../sync/authenticate.js';
import { appIdOf } from '../sync/request.js';
import type { ServerContext } from './context.js';

/**
 * The steps of a request to `/sync/*` before its body is read, defined once and run by both
 * paths that serve it: the Hono app (app.ts, routes/sync.ts) and the node:http fast path for
 * `POST /sync/{appId}` (push-endpoint.ts). A change to a step, or to their order, is made here
 * and holds for both.
 *
 *   ARRIVAL: declared length                        (Hono: middleware on /sync/*, before routing)
 *   ROUTE:   caller → rate limit → app id → turn    (Hono: the route's first lines)
 *
 * Then the route reads the body (never before the caller is known: a stranger learns nothing
 * and makes the server buffer nothing). A step throws a SyncError to refuse the request, and
 * returns a promise only when it has to wait, so that a cached caller's push runs through all
 * of them without one.
 */
export interface SyncRequest {
  readonly requestId: string;
  /** A request header by lower-case name (repeated ones joined with ", ", as fetch does). */
  header(name: string): string | undefined;
  readonly incoming: IncomingMessage | undefined;
  readonly outgoing: ServerResponse | undefined;
  /** The app id as the path has it (checked by the app id step). */
  readonly rawAppId: string | undefined;
  /** Push and pull wait for the user's turn (sync/admission.ts); a stream does not. */
  readonly admit: boolean;
  /** Set by the caller step. */
  principal?: Principal | undefined;
  /** Set by the app id step. */
  appId?: string | undefined;
}

export type Step = (ctx: ServerContext, r: SyncRequest) => void | Promise<void>;

const DIGITS = /^\d+$/;

/**
 * A body that declares more than LIMITS.maxBodyBytes (Content-Length, no Transfer-Encoding:
 * every fetch/XHR with a string body) is refused by the header alone, never read. A chunked
 * body is counted as it arrives, after auth (body.ts): reading it here would let a stranger
 * make the server buffer 10 MB per connection.
 */
const declaredLength: Step = (_ctx, r) => {
  const length = r.header('content-length');
  if (length === undefined || r.header('transfer-encoding') !== undefined || !DIGITS.test(length)) return;
  if (Number(length) > LIMITS.maxBodyBytes)
    throw new SyncError('PAYLOAD_TOO_LARGE', `body larger than ${LIMITS.maxBodyBytes} bytes`);
};

/**
 * Who is asking: a bearer token verified before, at once (the hot path of a small push), else
 * sync/authenticate.ts (JWKS, the service key; failures count against the client's address).
 */
const caller: Step = (ctx, r) => {
  const authorization = r.header('authorization');
  const serviceKey = r.header('x-service-key');
  const known = serviceKey === undefined ? ctx.auth.cached(authorization, r.incoming?.socket) : undefined;
  if (known) {
    r.principal = known;
    return;
  }
  const address = r.incoming ? clientAddress(r.incoming, ctx.config.trustProxy) : 'unknown';
  // X-User-Id only counts with the service key (auth.ts checks the key first).
  const userId = serviceKey === undefined ? undefined : utf8Header(r.header('x-user-id'));
  return authenticate(ctx, { authorization, serviceKey, userId }, r.requestId, address).then((principal) => {
    r.principal = principal;
  });
};

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A header value as the UTF-8 its bytes are. Node (and Hono's Headers, built from node's raw
 * headers) give each header byte as one Latin-1 character: `é` sent as UTF-8 arrives as "Ã©",
 * which a token's `sub: "é"` is not. Bytes that are not UTF-8 give `{ notUtf8: true }`.
 */
export function utf8Header(value: string | undefined): string | { notUtf8: true } | undefined {
  if (value === undefined || Buffer.byteLength(value) === value.length) return value;
  try {
    return UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return { notUtf8: true };
  }
}

/** The user's request rate (RATE_LIMIT_RPS); rows spent only for a stream (push and pull wait for them). */
const rateLimit: Step = (ctx, r) => {
  ctx.limiter.take(r.principal!.userId, undefined, !r.admit);
};

/** The app id, checked after the caller: a stranger learns nothing about the request. */
const appId: Step = (_ctx, r) => {
  r.appId = appIdOf(r.rawAppId);
};

/** The user's turn (sync/admission.ts): push and pull wait while the user's others run. */
const turn: Step = (ctx, r) => {
  if (r.admit && r.outgoing) return ctx.admission.admit(r.principal!.userId, r.outgoing);
};

/**
 * Requests that sent `Expect: 100-continue` and have not been told to go on (server.ts answers
 * node's `checkContinue` by adding the request here instead of sending 100 at once).
 */
export const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * `100 Continue` once every step before has passed: a refused caller gets its error without
 * it, and sends no body (DESIGN: no body byte is read for a refused caller).
 */
const goOn: Step = (_ctx, r) => {
  if (r.incoming && awaitingContinue.delete(r.incoming) && r.outgoing && !r.outgoing.headersSent)
    r.outgoing.writeContinue();
};

/** Before routing, on every /sync/* request. */
export const ARRIVAL_STEPS: readonly Step[] = [declaredLength];
/** A sync route's, once routed, before its body; the last tells a client waiting with `Expect: 100-continue` to send it. */
export const ROUTE_STEPS: readonly Step[] = [caller, rateLimit, appId, turn, goOn];

/**
 * Runs `steps` in order from `from`: synchronously while none waits, then after each promise.
 * A throw (or a rejection) stops the run: the request is refused with it.
 */
export function runSteps(
  ctx: ServerContext,
  steps: readonly Step[],
  r: SyncRequest,
  from = 0,
): void | Promise<void> {
  for (let i = from; i < steps.length; i++) {
    const waiting = steps[i]!(ctx, r);
    if (waiting) return waiting.then(() => runSteps(ctx, steps, r, i + 1));
  }
}

/**
 * Whether the connection closes after this answer: when the server shuts down (it drains
 * quickly), and after a refusal sent before the body was read (401, 413, 429...), so that a
 * client cannot go on streaming a body nobody reads.
 */
export function closesConnection(
  ctx: ServerContext,
  status: number,
  incoming: IncomingMessage | undefined,
): boolean {
  return ctx.shuttingDown || (status >= 400 && incoming !== undefined && !incoming.complete);
}
