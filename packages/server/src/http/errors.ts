import type { SyncError } from '@mana/sync-protocol';
import type { Context } from 'hono';
import { RateLimitedError } from '../rate-limit.js';

/** Seconds a client should wait before retrying a 503 or 429. */
const RETRY_AFTER_SECONDS = { unavailable: 2 } as const;

/** Headers an error response carries besides its body: when to retry a 429 or a 503. */
export function errorHeaders(err: SyncError): Record<string, string> {
  if (err instanceof RateLimitedError) return { 'Retry-After': String(err.retryAfterSeconds) };
  if (err.status === 503) return { 'Retry-After': String(RETRY_AFTER_SECONDS.unavailable) };
  return {};
}

export function errorResponse(c: Context, err: SyncError): Response {
  for (const [name, value] of Object.entries(errorHeaders(err))) c.header(name, value);
  return c.json(err.toBody(), err.status as 400);
}
