import { SyncError } from '@mana/sync-protocol';
import type { ZodError } from 'zod';
import { isDbUnavailable } from '../db/unavailable.js';
import type { Logger } from '../logger.js';

/**
 * Maps anything thrown while serving a request to a wire error.
 * Database outages become 503 DB_UNAVAILABLE (the client retries; nothing was acknowledged);
 * only a genuine bug is a 500.
 */
export function toSyncError(err: unknown): SyncError {
  if (err instanceof SyncError) return err;
  if (isDbUnavailable(err))
    return new SyncError('DB_UNAVAILABLE', 'the database is unavailable; retry later');
  return new SyncError('INTERNAL', 'internal error');
}

/**
 * Anything thrown while serving a request, as the wire error it answers with. A bug or an
 * outage is logged here (with the request id): the client only sees the code.
 */
export function requestError(logger: Logger, requestId: string | undefined, err: unknown): SyncError {
  const e = toSyncError(err);
  if (e.code === 'INTERNAL' || e.code === 'DB_UNAVAILABLE') {
    logger.error({ reqId: requestId, err: String((err as Error)?.stack ?? err) }, e.code);
  }
  return e;
}

/** The first schema issue as a 400; a hostile key cannot make the error body large. */
export function zodToSyncError(error: ZodError, prefix?: string): SyncError {
  const issue = error.issues[0]!;
  const path = clip([...(prefix ? [prefix] : []), ...issue.path.map(String)].join('.'));
  const message = clip(issue.message);
  return new SyncError('INVALID_REQUEST', path ? `${path}: ${message}` : message, path || undefined);
}

const clip = (s: string, max = 200) => (s.length > max ? `${s.slice(0, max)}…` : s);
