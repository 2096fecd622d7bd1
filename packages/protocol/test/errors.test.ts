import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SyncError } from '../src/errors.js';

describe('error codes', () => {
  it('are SCREAMING_SNAKE_CASE and map to 4xx/5xx statuses', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(status >= 400 && status < 600, code).toBe(true);
    }
  });

  it('serialize to the wire error body', () => {
    const e = new SyncError('INVALID_REQUEST', 'bad', 'changes.0.table');
    expect(e.status).toBe(400);
    expect(e.name).toBe('SyncError');
    expect(e.toBody()).toEqual({
      error: { code: 'INVALID_REQUEST', message: 'bad', path: 'changes.0.table' },
    });
  });
});
