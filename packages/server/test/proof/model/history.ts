import fc from 'fast-check';
import type { Json } from './json.js';
import type { TimeFormat } from './time.js';

/**
 * A history: N clients of one user and the things they do, in order. Plain data, so a
 * failing history prints (and shrinks) as something a person can read.
 *
 * Timestamps are `tick` milliseconds (plus `sub` microseconds) after a base time, shifted by
 * the client's clock skew. Few ticks and few values make ties — same field, same time,
 * different values — common, which is where LWW implementations go wrong.
 */

export const TABLES = ['tasks', 'notes'] as const;
export const RECORD_IDS = ['r1', 'r2', 'r3'] as const;
export const FIELD_NAMES = ['title', 'done', 'n'] as const;
/** A `data` field: no timestamp of its own, it takes the change's newest field timestamp. */
export const DATA_FIELD = 'memo';

export interface FieldEdit {
  name: string;
  value: Json;
  tick: number;
  sub: number;
}

export type Op =
  | {
      t: 'edit';
      c: number;
      table: string;
      id: string;
      kind: 'insert' | 'update' | 'delete' | 'undelete';
      /** Time of a delete or undelete. */
      tick: number;
      sub: number;
      fields: FieldEdit[];
      data?: { value: Json };
      format: TimeFormat;
    }
  /** `lose`: the server commits but the response never reaches the client (it retries later). */
  | { t: 'push'; c: number; lose: boolean }
  | { t: 'pull'; c: number; table: string; limit: number }
  | { t: 'offline'; c: number }
  | { t: 'online'; c: number };

export interface History {
  clients: number;
  /** Clock skew of each client, microseconds (index = client). */
  skews: number[];
  ops: Op[];
}

const PROTO_KEY: Json = JSON.parse('{"__proto__":{"polluted":true},"constructor":1}');

export const VALUES: Json[] = [
  'a',
  'b',
  '',
  'ü 🎉 ✓ \u2028',
  0,
  1,
  -7.5,
  true,
  false,
  null,
  { x: 1, y: [1, 'z'] },
  { y: [1, 'z'], x: 1 }, // the same value as above for jsonb (key order does not count)
  [1, 2],
  [],
  PROTO_KEY,
];

/** Skews: a slow clock (an hour behind), small drifts, a fast clock (just under the clamp). */
export const SKEWS = [0, 0, -3_600_000_000, -1_000_000, 2_000_000, 3_650_000_000];

const client = fc.nat({ max: 7 });
// Half the ticks fall in 0-2 so that edits collide on the same millisecond often; the
// microsecond part then decides (a merge that compares only milliseconds gets caught).
const tick = fc.oneof(fc.nat({ max: 2 }), fc.nat({ max: 12 }));
const sub = fc.constantFrom(0, 0, 7, 999);
const value = fc.constantFrom(...VALUES);

const fieldEdit: fc.Arbitrary<FieldEdit> = fc.record({
  name: fc.constantFrom(...FIELD_NAMES),
  value,
  tick,
  sub,
});

const edit: fc.Arbitrary<Op> = fc
  .record({
    c: client,
    table: fc.constantFrom(...TABLES),
    id: fc.constantFrom(...RECORD_IDS),
    kind: fc.constantFrom('insert', 'update', 'update', 'delete', 'undelete'),
    tick,
    sub,
    fields: fc.uniqueArray(fieldEdit, { maxLength: 3, selector: (f) => f.name }),
    data: fc.option(fc.record({ value }), { nil: undefined }),
    format: fc.constantFrom<TimeFormat>(
      'canonical',
      'canonical',
      'millis',
      'nanos',
      'offset',
      'seconds',
      'lowercase',
    ),
  })
  .map((e) => {
    const { data, ...rest } = e;
    return { t: 'edit' as const, ...rest, ...(data ? { data } : {}) };
  });

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: edit, weight: 6 },
  { arbitrary: fc.record({ t: fc.constant('push' as const), c: client, lose: fc.boolean() }), weight: 3 },
  {
    arbitrary: fc.record({
      t: fc.constant('pull' as const),
      c: client,
      table: fc.constantFrom(...TABLES),
      limit: fc.integer({ min: 1, max: 4 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ t: fc.constant('offline' as const), c: client }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('online' as const), c: client }), weight: 1 },
);

export const historyArb: fc.Arbitrary<History> = fc.record({
  clients: fc.integer({ min: 3, max: 8 }),
  skews: fc.array(fc.constantFrom(...SKEWS), { minLength: 8, maxLength: 8 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 40 }),
});
