import {
  type ErrorCode,
  errorBodySchema,
  HEADER,
  type PullResponse,
  type PushRequest,
  type PushResponse,
  pullResponseSchema,
  pushResponseSchema,
  QUERY,
} from '@mana/sync-protocol';
import type { z } from 'zod';
import { AuthRefusedError, type TokenSource } from './auth.js';
import type { ClientReason } from './status.js';

/**
 * HTTP push and pull. Every failure is classified once, here, into what the sync loop does
 * next:
 *   retry    network down, 5xx, 429: back off (honouring Retry-After) and try again
 *   auth     the server refused a fresh token: status error, no automatic retry
 *   rejected the server refused the request itself (4xx): status error
 */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    readonly kind: 'retry' | 'rejected',
    readonly code: ErrorCode | ClientReason,
    message: string,
    readonly retryAfterMs?: number,
    /** The part of the request the server named as the problem (`changes.3.id`), if it did. */
    readonly path?: string,
  ) {
    super(message);
  }
}

export interface TransportOptions {
  url: string;
  appId: string;
  tokens: TokenSource;
  fetch: typeof fetch;
  /** Aborts a request that has not answered after this long. */
  timeoutMs: number;
}

export interface Transport {
  /** Sent with `body.clientId` as the echo key. */
  push(body: PushRequest, signal?: AbortSignal): Promise<PushResponse>;
  /** `clientId`: the echo key; the server leaves out the fields written under it. */
  pull(
    table: string,
    since: string,
    limit: number,
    clientId: string,
    signal?: AbortSignal,
  ): Promise<PullResponse>;
}

export function createTransport(opts: TransportOptions): Transport {
  const base = `${opts.url.replace(/\/+$/, '')}/sync/${encodeURIComponent(opts.appId)}`;

  async function send<S extends z.ZodType>(
    path: string,
    init: RequestInit,
    clientId: string,
    schema: S,
    signal?: AbortSignal,
  ): Promise<z.infer<S>> {
    let token = await opts.tokens.current();
    for (let attempt = 0; ; attempt++) {
      const res = await fetchOnce(path, init, token, clientId, signal);
      if (res.status === 401 && attempt === 0) {
        // Once: the token may have expired between our check and the server's.
        token = await opts.tokens.refresh();
        continue;
      }
      if (res.status === 401) {
        const code = (await errorOf(res))?.code;
        throw new AuthRefusedError(`the server refused a fresh token (${code ?? 401})`);
      }
      if (!res.ok) {
        const error = await errorOf(res);
        const code = error?.code ?? 'INTERNAL';
        const retryAfter = Number(res.headers.get(HEADER.retryAfter));
        const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
        throw new TransportError(
          retryable ? 'retry' : 'rejected',
          code,
          `${init.method ?? 'GET'} ${path}: ${res.status} ${code}${error?.message ? ` (${error.message})` : ''}`,
          Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
          error?.path,
        );
      }
      const parsed = schema.safeParse(await res.json().catch(() => undefined));
      if (!parsed.success)
        throw new TransportError('retry', 'BAD_RESPONSE', `unreadable response from ${path}`);
      return parsed.data;
    }
  }

  async function fetchOnce(
    path: string,
    init: RequestInit,
    token: string,
    clientId: string,
    signal?: AbortSignal,
  ) {
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    headers.set(HEADER.clientId, clientId);
    try {
      return await opts.fetch(`${base}${path}`, {
        ...init,
        headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      const reason = signal?.aborted ? 'aborted' : timeout.aborted ? 'timed out' : String(err);
      throw new TransportError('retry', 'NETWORK', `${init.method ?? 'GET'} ${base}${path}: ${reason}`);
    }
  }

  return {
    push: (body, signal) =>
      send(
        '',
        { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
        body.clientId,
        pushResponseSchema,
        signal,
      ),
    pull: (table, since, limit, clientId, signal) =>
      send(
        `/pull?${new URLSearchParams({ [QUERY.collection]: table, [QUERY.since]: since, [QUERY.limit]: String(limit) })}`,
        { method: 'GET' },
        clientId,
        pullResponseSchema,
        signal,
      ),
  };
}

async function errorOf(
  res: Response,
): Promise<{ code: ErrorCode; message: string; path?: string | undefined } | undefined> {
  const parsed = errorBodySchema.safeParse(await res.json().catch(() => undefined));
  return parsed.success ? parsed.data.error : undefined;
}
