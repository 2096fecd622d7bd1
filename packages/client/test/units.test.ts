import type { Canonical } from '@mana/sync-protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthRefusedError } from '../src/auth.js';
import { createBackoff } from '../src/backoff.js';
import { createClock } from '../src/clock.js';
import { afterFailure } from '../src/failure.js';
import { coalesce, pendingStates } from '../src/outbox.js';
import { changedFields, encodeRecord, encodeStored, insertFields } from '../src/record-fields.js';
import type { OutboxRow } from '../src/schema.js';
import { type SyncEvent, type SyncState, TRANSITIONS, transition } from '../src/state-machine.js';
import { TransportError } from '../src/transport.js';

const t = (n: number) => `2024-01-01T00:00:00.${String(n).padStart(6, '0')}Z` as Canonical;
const STATES = Object.keys(TRANSITIONS) as SyncState[];
const EVENTS = Object.keys(TRANSITIONS.idle) as SyncEvent[];

describe('state machine', () => {
  it('stop leads to idle from every state, and idle ignores everything but start', () => {
    for (const s of STATES) expect(transition(s, 'stop')).toBe('idle');
    for (const e of EVENTS) expect(transition('idle', e)).toBe(e === 'start' ? 'syncing' : 'idle');
  });

  it('auth refusal and stalls are errors while running; a stall while offline is not', () => {
    for (const s of ['syncing', 'synced', 'offline', 'error'] as const)
      expect(transition(s, 'authRefused')).toBe('error');
    expect(transition('synced', 'stalled')).toBe('error');
    expect(transition('syncing', 'stalled')).toBe('error');
    expect(transition('offline', 'stalled')).toBe('offline');
  });

  it('every running state recovers to synced through a successful run', () => {
    for (const s of ['syncing', 'synced', 'offline', 'error'] as const) {
      expect(transition(transition(s, 'syncStarted'), 'syncSucceeded')).toBe('synced');
    }
  });
});

describe('what a failed pass leads to (failure.ts)', () => {
  const at = 1000;
  it('passing failures retry, never sooner than the server asked; the status is told why', () => {
    expect(afterFailure(new TransportError('retry', 'NETWORK', 'down'), null, at)).toEqual({
      tell: ['networkFailed', { code: 'NETWORK', message: 'down', at }],
      next: 'retry',
      notBeforeMs: 0,
    });
    expect(afterFailure(new TransportError('retry', 'RATE_LIMITED', 'slow down', 7000), null, at)).toEqual({
      tell: ['serverFailed', { code: 'RATE_LIMITED', message: 'slow down', at }],
      next: 'retry',
      notBeforeMs: 7000,
    });
    expect(afterFailure(new Error('disk full'), null, at)).toMatchObject({
      tell: ['serverFailed', { code: 'INTERNAL', message: 'disk full' }],
      next: 'retry',
    });
  });

  it('auth refusals and rejected requests halt the loop: no retry loop against the server', () => {
    expect(afterFailure(new AuthRefusedError('signed out'), null, at)).toEqual({
      tell: ['authRefused', { code: 'AUTH_REFUSED', message: 'signed out', at }],
      next: 'halt',
    });
    expect(afterFailure(new TransportError('rejected', 'NOT_FOUND', 'no route'), null, at)).toMatchObject({
      tell: ['rejected', { code: 'NOT_FOUND' }],
      next: 'halt',
    });
  });

  it('an abort decides, whatever the error it caused: a stall retries, going offline halts, untold', () => {
    const aborted = new TransportError('retry', 'NETWORK', 'aborted');
    expect(afterFailure(aborted, 'stalled', at)).toEqual({ tell: null, next: 'retry', notBeforeMs: 0 });
    expect(afterFailure(aborted, 'offline', at)).toEqual({ tell: null, next: 'halt' });
  });
});

describe('outbox folding', () => {
  const row = (op: OutboxRow['op'], fields: OutboxRow['fields']): OutboxRow => ({
    table: 'todos',
    id: 'a',
    op,
    fields,
    at: 0,
  });

  it('an insert followed by updates stays one insert with the latest values', () => {
    const [c] = coalesce([
      row('insert', insertFields(encodeRecord('todos', { id: 'a', title: 'x', done: false }), t(1))),
      row('update', { title: { value: 'y', updatedAt: t(2) } }),
    ]);
    expect(c).toEqual({
      table: 'todos',
      id: 'a',
      op: 'insert',
      fields: {
        title: { value: 'y', updatedAt: t(2) },
        done: { value: false, updatedAt: t(1) },
        deletedAt: { value: null, updatedAt: t(1) },
      },
    });
  });

  it('a delete wins over earlier edits, and a re-add after it undeletes', () => {
    const deleted = coalesce([
      row('update', { title: { value: 'y', updatedAt: t(1) } }),
      row('delete', { deletedAt: { value: t(2), updatedAt: t(2) } }),
    ]);
    expect(deleted[0]).toMatchObject({ op: 'delete', deletedAt: t(2) });
    const readded = coalesce([
      row('delete', { deletedAt: { value: t(2), updatedAt: t(2) } }),
      row('insert', insertFields(encodeRecord('todos', { id: 'a', title: 'back' }), t(3))),
    ]);
    expect(readded[0]).toMatchObject({
      op: 'insert',
      fields: { deletedAt: { value: null, updatedAt: t(3) } },
    });
    expect(readded[0]!.deletedAt).toBeUndefined();
  });

  it('pending states hold the newest value of each field', () => {
    const states = pendingStates([
      row('update', { title: { value: 'y', updatedAt: t(1) } }),
      row('update', { title: { value: 'z', updatedAt: t(2) } }),
    ]);
    expect(states.get('todos\u0000a')?.data.title).toBe('z');
  });
});

describe('field diff', () => {
  const diff = (before: Record<string, unknown>, after: Record<string, unknown>) =>
    changedFields(encodeStored(before), encodeRecord('todos', after), t(5));

  it('reports changed, added and removed fields only; a removed field goes as undefined, apart from null', () => {
    expect(
      diff({ id: 'a', x: 1, y: [1], z: 'gone', n: null }, { id: 'a', x: 1, y: [2], w: true, n: null }),
    ).toEqual({
      y: { value: [2], updatedAt: t(5) },
      z: { value: null, updatedAt: t(5), type: 'undefined' },
      w: { value: true, updatedAt: t(5) },
    });
    expect(diff({ id: 'a', n: 'x' }, { id: 'a', n: null })).toEqual({ n: { value: null, updatedAt: t(5) } });
  });

  it('compares values with their types: a Date is not its ISO string, equal Maps are no change', () => {
    const when = new Date('2024-05-01T10:00:00.123Z');
    expect(diff({ id: 'a', at: when.toISOString() }, { id: 'a', at: when })).toEqual({
      at: { value: when.toISOString(), updatedAt: t(5), type: 'Date' },
    });
    const record = () => ({ id: 'a', at: new Date(when), m: new Map([['k', 1n]]), b: new Uint8Array([1]) });
    expect(diff(record(), record())).toEqual({});
    expect(diff(record(), { ...record(), b: new Uint8Array([2]) })).toEqual({
      b: { value: 'Ag==', updatedAt: t(5), type: 'Uint8Array' },
    });
  });
});

describe('clock and backoff', () => {
  it('timestamps strictly increase even within one millisecond', () => {
    const clock = createClock(() => 1_700_000_000_000);
    const a = clock.next();
    const b = clock.next();
    expect(b > a).toBe(true);
  });

  it('backoff delays stay within [min, min(max, base·2^n)] and reset', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 12,
        }),
        (rolls) => {
          let i = 0;
          const b = createBackoff({
            baseMs: 100,
            maxMs: 2000,
            minMs: 10,
            random: () => rolls[i++ % rolls.length]!,
          });
          rolls.forEach((_, n) => {
            const d = b.next();
            expect(d).toBeGreaterThanOrEqual(10);
            expect(d).toBeLessThanOrEqual(Math.min(2000, 100 * 2 ** n));
          });
          b.reset();
          expect(b.attempts).toBe(0);
        },
      ),
    );
  });
});
