import { AuthRefusedError } from './auth.js';
import type { SyncEvent } from './state-machine.js';
import type { SyncErrorInfo } from './status.js';
import { TransportError } from './transport.js';

/** Why a pass was aborted from outside (engine.abort). */
export type AbortReason = 'stalled' | 'offline';

/**
 * What a failed pass leads to: what the status is told (if anything), and whether the loop
 * waits for a retry (`waiting`, never sooner than `notBeforeMs`: the server's Retry-After) or
 * halts until something outside asks (`halted`). Pure: the engine does the telling and timing.
 */
export type FailureOutcome =
  | { tell: [SyncEvent, SyncErrorInfo] | null; next: 'retry'; notBeforeMs: number }
  | { tell: [SyncEvent, SyncErrorInfo] | null; next: 'halt' };

export function afterFailure(err: unknown, aborted: AbortReason | null, at: number): FailureOutcome {
  // The status already says STALLED; try again soon, on a fresh connection.
  if (aborted === 'stalled') return { tell: null, next: 'retry', notBeforeMs: 0 };
  // The browser's `online` event brings the loop back.
  if (aborted === 'offline') return { tell: null, next: 'halt' };
  if (err instanceof AuthRefusedError) {
    // The app must sign in again (then sync() or start()): no retry loop against the auth service.
    return { tell: ['authRefused', { code: 'AUTH_REFUSED', message: err.message, at }], next: 'halt' };
  }
  if (err instanceof TransportError) {
    const error = { code: err.code, message: err.message, at };
    // A wrong url or a request the server will never take: the next write or sync() tries again.
    if (err.kind === 'rejected') return { tell: ['rejected', error], next: 'halt' };
    const event = err.code === 'NETWORK' ? 'networkFailed' : 'serverFailed';
    return { tell: [event, error], next: 'retry', notBeforeMs: err.retryAfterMs ?? 0 };
  }
  // A local failure (IndexedDB, a bug): told as INTERNAL and retried like a server failure.
  const message = String((err as Error)?.message ?? err);
  return { tell: ['serverFailed', { code: 'INTERNAL', message, at }], next: 'retry', notBeforeMs: 0 };
}
