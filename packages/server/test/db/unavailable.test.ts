import { SyncError } from '@mana/sync-protocol';
import { describe, expect, it } from 'vitest';
import { outageOf } from '../../src/db/unavailable.js';
import { toSyncError } from '../../src/sync/errors.js';

const pgError = (code: string) => Object.assign(new Error(`error ${code}`), { code });

describe('one outage classifier', () => {
  it('answers 503 (retry) for every error after which the PostgreSQL pool is replaced', () => {
    // Before: the pool's list (db/postgres.ts) took any 57P0x, the answer's (http/errors.ts)
    // only 57P01-03, so an idle-session timeout replaced the pool and answered 500 INTERNAL.
    for (const code of ['57P01', '57P04', '57P05', '08006', 'CONNECTION_CLOSED', 'ECONNRESET']) {
      expect(outageOf(pgError(code)), code).toBe('connection-lost');
      expect(toSyncError(pgError(code)).code, code).toBe('DB_UNAVAILABLE');
    }
  });

  it('answers 503 without replacing the pool for a busy database, 500 for anything else', () => {
    for (const code of ['40001', '40P01', '55P03', '57014', '53300']) {
      expect(outageOf(pgError(code)), code).toBe('busy');
      expect(toSyncError(pgError(code)).code, code).toBe('DB_UNAVAILABLE');
    }
    expect(outageOf(new Error('PGlite is closed'))).toBe('busy');
    for (const err of [pgError('23505'), new TypeError('x is undefined'), null, 'text']) {
      expect(outageOf(err)).toBeUndefined();
      expect(toSyncError(err).code).toBe('INTERNAL');
    }
    expect(toSyncError(new SyncError('BAD_JSON', 'no')).code).toBe('BAD_JSON');
  });
});
