import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Principal } from '../auth/auth.js';
import { clientAddress } from '../client-address.js';
import type { ServerContext } from './context.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9_.:@+=~-]{1,128}$/;

/** The caller's X-Request-Id when it is safe to log and echo, else a new one. */
export function requestIdFrom(given: string | undefined): string {
  return given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

interface FinishedRequest {
  requestId: string;
  method: string;
  /** The route template (`/sync/:appId`), never the raw path: bounded labels. */
  route: string;
  status: number;
  startedAt: number;
  principal?: Principal | undefined;
  appId?: string | undefined;
  /** The node:http request: its client address is logged (read only when a line is written). */
  incoming?: IncomingMessage | undefined;
}

/** Every request, whichever path served it: its metrics, and one log line when logging is on. */
export function finishRequest(ctx: ServerContext, r: FinishedRequest): void {
  const seconds = (performance.now() - r.startedAt) / 1000;
  ctx.metrics.observeRequest(r.method, r.route, r.status, seconds);
  if (!ctx.logger.isLevelEnabled(r.status >= 500 ? 'error' : 'info')) return;
  const line = {
    reqId: r.requestId,
    method: r.method,
    route: r.route,
    status: r.status,
    ms: Math.round(seconds * 10_000) / 10,
    userId: r.principal?.userId,
    via: r.principal?.via,
    appId: r.appId,
    remoteAddress: r.incoming ? clientAddress(r.incoming, ctx.config.trustProxy) : undefined,
  };
  if (r.status >= 500) ctx.logger.error(line, 'request failed');
  else ctx.logger.info(line, 'request');
}
