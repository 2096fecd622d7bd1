import { appIdSchema, clientIdSchema, isAppId, LIMITS, SyncError } from '@mana/sync-protocol';
import { zodToSyncError } from './errors.js';

/** The app id of a request; zod only when the quick check refuses it, to name the problem. */
export function appIdOf(raw: string | undefined): string {
  if (isAppId(raw)) return raw;
  const parsed = appIdSchema.safeParse(raw);
  if (!parsed.success) throw zodToSyncError(parsed.error, 'appId');
  return parsed.data;
}

/** An X-Client-Id header's value, or a 400 naming it. */
export function checkedClientId(value: string): string {
  if (value.length > LIMITS.maxClientIdLength)
    throw new SyncError(
      'INVALID_REQUEST',
      `X-Client-Id: at most ${LIMITS.maxClientIdLength} characters (got ${value.length})`,
      'X-Client-Id',
    );
  if (!clientIdSchema.safeParse(value).success) {
    throw new SyncError('INVALID_REQUEST', 'X-Client-Id: letters, digits and _ . : @ + = ~ -', 'X-Client-Id');
  }
  return value;
}
