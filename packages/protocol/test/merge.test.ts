import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Change } from '../src/change.js';
import { type Canonical, formatMicros, parseMicros } from '../src/cursor.js';
import {
  changeFields,
  isDeleted,
  mergeFields,
  type RecordState,
  settleServerTimed,
  type TimedValue,
} from '../src/merge.js';

const t = (s: string) => s as Canonical;
const now = t('2024-01-01T12:00:00.000000Z');
const opts = { nowMicros: Number(parseMicros(now)), maxSkewMicros: 60_000_000 };

function apply(state: RecordState | undefined, change: Change): RecordState {
  return mergeFields(state, changeFields(change, opts)).state;
}

describe('field-level LWW (the seed examples)', () => {
  it('a later timestamp wins', () => {
    let s = apply(undefined, {
      table: 'todos',
      id: 'a',
      op: 'update',
      fields: { title: { value: 'Buy milk', updatedAt: '2024-01-01T10:05:00Z' } },
    });
    s = apply(s, {
      table: 'todos',
      id: 'a',
      op: 'update',
      fields: { title: { value: 'Buy eggs', updatedAt: '2024-01-01T10:05:30Z' } },
    });
    expect(s.data.title).toBe('Buy eggs');
  });

  it('different fields merge', () => {
    let s = apply(undefined, {
      table: 'todos',
      id: 'a',
      op: 'update',
      fields: {
        title: { value: 'Buy milk', updatedAt: '2024-01-01T10:05:00Z' },
        completed: { value: true, updatedAt: '2024-01-01T10:06:00Z' },
      },
    });
    const r = mergeFields(
      s,
      changeFields(
        {
          table: 'todos',
          id: 'a',
          op: 'update',
          fields: { title: { value: 'Buy eggs', updatedAt: '2024-01-01T10:05:30Z' } },
        },
        opts,
      ),
    );
    s = r.state;
    expect({ ...s.data }).toEqual({ title: 'Buy eggs', completed: true });
    expect(r.lost).toEqual([]);
  });
});

describe('mergeFields', () => {
  const stored = mergeFields(undefined, {
    title: { value: 'a', updatedAt: t('2024-01-01T10:00:00.000000Z') },
  }).state;

  it('keeps the stored value on a tie and reports the loser', () => {
    const r = mergeFields(stored, { title: { value: 'b', updatedAt: t('2024-01-01T10:00:00.000000Z') } });
    expect(r.state.data.title).toBe('a');
    expect(r.accepted).toEqual({});
    expect(r.lost).toEqual([
      {
        field: 'title',
        clientValue: 'b',
        clientUpdatedAt: '2024-01-01T10:00:00.000000Z',
        serverValue: 'a',
        serverUpdatedAt: '2024-01-01T10:00:00.000000Z',
      },
    ]);
  });

  it('treats an identical field as a no-op, not a conflict (idempotent retry)', () => {
    const r = mergeFields(stored, { title: { value: 'a', updatedAt: t('2024-01-01T10:00:00.000000Z') } });
    expect(Object.keys(r.accepted)).toEqual([]);
    expect(r.lost).toEqual([]);
  });

  it('compares object values regardless of key order', () => {
    const s = mergeFields(undefined, {
      meta: { value: { a: 1, b: [1, { c: 2 }] }, updatedAt: t('2024-01-01T10:00:00.000000Z') },
    }).state;
    const r = mergeFields(s, {
      meta: { value: { b: [1, { c: 2 }], a: 1 }, updatedAt: t('2024-01-01T10:00:00.000000Z') },
    });
    expect(r.lost).toEqual([]);
  });

  it('does not let a field named like a prototype key reach Object.prototype', () => {
    const r = mergeFields(undefined, { ['__proto__']: { value: { polluted: true }, updatedAt: now } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(r.state.data, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('treats fields named like inherited properties as new fields, serialized as own ones', () => {
    const r = mergeFields(undefined, {
      constructor: { value: 1, updatedAt: now },
      toString: { value: 2, updatedAt: now },
      ['__proto__']: { value: 3, updatedAt: now },
    });
    expect(Object.keys(r.accepted)).toEqual(['constructor', 'toString', '__proto__']);
    expect(r.lost).toEqual([]);
    expect(JSON.parse(JSON.stringify(r.state.data))).toEqual(
      JSON.parse('{"constructor":1,"toString":2,"__proto__":3}'),
    );
  });
});

describe('times the server chose', () => {
  const chosen = (change: Change) => {
    const timed = new Map<string, 'clamped' | 'defaulted'>();
    const fields = changeFields(change, opts, timed);
    return { fields, timed };
  };

  it('names the fields it clamped and those it gave the server time; a time of their own is neither', () => {
    const { timed } = chosen({
      table: 'x',
      id: 'a',
      op: 'insert',
      fields: { far: { value: 1, updatedAt: '2099-01-01T00:00:00Z' }, ok: { value: 2, updatedAt: now } },
    });
    expect([...timed]).toEqual([['far', 'clamped']]);
    expect([...chosen({ table: 'x', id: 'a', op: 'insert', data: { c: 3 } }).timed]).toEqual([
      ['c', 'defaulted'],
    ]);
    expect(chosen({ table: 'x', id: 'a', op: 'insert', data: { c: 3, updatedAt: now } }).timed.size).toBe(0);
    expect([...chosen({ table: 'x', id: 'a', op: 'delete' }).timed]).toEqual([['deletedAt', 'defaulted']]);
  });

  it('a retry without times changes nothing: same value, a deleted record, an insert of a field held', () => {
    const stored = apply(undefined, {
      table: 'x',
      id: 'a',
      op: 'update',
      fields: {
        title: { value: 'edited', updatedAt: '2024-01-01T11:00:00Z' },
        n: { value: 1, updatedAt: '2024-01-01T11:00:00Z' },
      },
    });
    const insert = chosen({ table: 'x', id: 'a', op: 'insert', data: { title: 'first', n: 1, extra: true } });
    settleServerTimed(stored, { table: 'x', id: 'a', op: 'insert' }, insert.fields, insert.timed);
    expect(Object.keys(insert.fields)).toEqual(['extra']);
    const update = chosen({ table: 'x', id: 'a', op: 'update', data: { title: 'new', n: 1 } });
    settleServerTimed(stored, { table: 'x', id: 'a', op: 'update' }, update.fields, update.timed);
    expect(Object.keys(update.fields)).toEqual(['title']);
    const deleted = apply(stored, { table: 'x', id: 'a', op: 'delete', deletedAt: '2024-01-01T11:30:00Z' });
    const again = chosen({ table: 'x', id: 'a', op: 'delete' });
    settleServerTimed(deleted, { table: 'x', id: 'a', op: 'delete' }, again.fields, again.timed);
    expect(again.fields).toEqual({});
    expect(again.timed.size).toBe(0);
  });
});

describe('changeFields', () => {
  it('clamps timestamps far in the future to the server clock', () => {
    const f = changeFields(
      {
        table: 'x',
        id: 'a',
        op: 'update',
        fields: { title: { value: 'x', updatedAt: '2099-01-01T00:00:00Z' } },
      },
      opts,
    );
    expect(f.title!.updatedAt).toBe(now);
    const near = changeFields(
      {
        table: 'x',
        id: 'a',
        op: 'update',
        fields: { title: { value: 'x', updatedAt: '2024-01-01T12:00:30Z' } },
      },
      opts,
    );
    expect(near.title!.updatedAt).toBe('2024-01-01T12:00:30.000000Z');
  });

  it('gives data values the newest field timestamp, or the server time', () => {
    const f = changeFields(
      {
        table: 'x',
        id: 'a',
        op: 'insert',
        fields: {
          a: { value: 1, updatedAt: '2024-01-01T10:00:00Z' },
          b: { value: 2, updatedAt: '2024-01-01T11:00:00Z' },
        },
        data: { c: 3, a: 99 },
      },
      opts,
    );
    expect(f.a).toEqual({ value: 1, updatedAt: '2024-01-01T10:00:00.000000Z' });
    expect(f.c).toEqual({ value: 3, updatedAt: '2024-01-01T11:00:00.000000Z' });
    expect(changeFields({ table: 'x', id: 'a', op: 'insert', data: { c: 3 } }, opts).c!.updatedAt).toBe(now);
  });

  it('turns a delete into a deletedAt field that a later edit or undelete can beat', () => {
    let s = apply(undefined, {
      table: 'x',
      id: 'a',
      op: 'insert',
      fields: { title: { value: 'x', updatedAt: '2024-01-01T10:00:00Z' } },
    });
    s = apply(s, { table: 'x', id: 'a', op: 'delete', deletedAt: '2024-01-01T10:01:00Z' });
    expect(isDeleted(s)).toBe(true);
    s = apply(s, {
      table: 'x',
      id: 'a',
      op: 'update',
      fields: { deletedAt: { value: null, updatedAt: '2024-01-01T10:00:30Z' } },
    });
    expect(isDeleted(s)).toBe(true);
    s = apply(s, {
      table: 'x',
      id: 'a',
      op: 'update',
      fields: { deletedAt: { value: null, updatedAt: '2024-01-01T10:02:00Z' } },
    });
    expect(isDeleted(s)).toBe(false);
  });
});

describe('merge properties (distinct timestamps)', () => {
  // Each update: one field out of a few, a value, and a timestamp unique across the run.
  const updates = fc
    .uniqueArray(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 30 })
    .chain((stamps) =>
      fc.tuple(
        ...stamps.map((micros) =>
          fc.record({
            field: fc.constantFrom('title', 'done', 'note'),
            value: fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
            micros: fc.constant(micros),
          }),
        ),
      ),
    );

  const fold = (us: Array<{ field: string; value: unknown; micros: number }>) =>
    us.reduce<RecordState | undefined>(
      (s, u) =>
        mergeFields(s, {
          [u.field]: {
            value: u.value,
            updatedAt: formatMicros(1_700_000_000_000_000 + u.micros),
          } as TimedValue,
        }).state,
      undefined,
    );

  it('is order-independent: any shuffle of the same updates converges to the same state', () => {
    fc.assert(
      fc.property(updates, fc.infiniteStream(fc.nat()), (us, rnd) => {
        const shuffled = [...us];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = rnd.next().value % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        expect(fold(shuffled)).toEqual(fold(us));
      }),
    );
  });

  it('is idempotent: applying every update twice changes nothing', () => {
    fc.assert(
      fc.property(updates, (us) => {
        expect(fold([...us, ...us])).toEqual(fold(us));
      }),
    );
  });

  it('keeps, per field, the value with the latest timestamp', () => {
    fc.assert(
      fc.property(updates, (us) => {
        const s = fold(us)!;
        for (const field of new Set(us.map((u) => u.field))) {
          const latest = us.filter((u) => u.field === field).sort((a, b) => b.micros - a.micros)[0]!;
          expect(s.data[field]).toEqual(latest.value);
        }
      }),
    );
  });
});
