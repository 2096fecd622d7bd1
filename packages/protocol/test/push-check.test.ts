import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appIdSchema, ID_MATCHES, ID_PATTERN, isAppId } from '../src/ids.js';
import { stringProblem } from '../src/json-value.js';
import { pushRequestSchema } from '../src/push.js';
import { isPlainPushRequest, parsePushRequest } from '../src/push-check.js';
import { encodeValue } from '../src/value-codec.js';

/**
 * The hand-written push check must never accept what the zod schema refuses, nor accept
 * something zod would change (strip). Bodies are generated from valid and broken parts,
 * and go through JSON like a request body.
 */

const pick = <T>(...xs: fc.Arbitrary<T>[]) => fc.oneof(...xs);
const validTimestamp = fc
  .date({ min: new Date('1970-01-02T00:00:00Z'), max: new Date('2999-12-31T00:00:00Z'), noInvalidDate: true })
  .chain((d) =>
    fc.constantFrom(
      d.toISOString(),
      d.toISOString().replace('Z', '123Z'),
      d.toISOString().replace('Z', '+02:00'),
      `${d.toISOString().slice(0, 19)}Z`,
    ),
  );
const brokenTimestamp = fc.constantFrom<unknown>(
  '2024-02-30T10:00:00Z',
  '2024-13-01T00:00:00Z',
  'yesterday',
  '',
  `2024-01-01T00:00:00.${'1'.repeat(60)}Z`,
  12,
  null,
);
const name = fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$.-]{0,6}$/);
const brokenName = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  '9lives',
  'has space',
  '',
  'x'.repeat(129),
);
const id = fc.stringMatching(/^[A-Za-z0-9_.:@+=~-]{1,8}$/);
const brokenId = fc.constantFrom<unknown>('', 'a/b', 'a b', 'x'.repeat(300), 5, null);
const value = fc.jsonValue({ maxDepth: 3 });
const brokenValue = fc.constantFrom<unknown>(
  'nul\u0000',
  'lone \ud800',
  { k: 'x\udc00' },
  { 'bad\u0000key': 1 },
);

/** Types as the client makes them (value-types.ts): of generated values JSON cannot hold. */
const validType = fc
  .anything({
    maxDepth: 3,
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withTypedArray: true,
  })
  .map((v) => {
    try {
      return encodeValue(v).type;
    } catch {
      return undefined; // a value the client refuses (a typed value under the key __proto__)
    }
  })
  .filter((t) => t !== undefined);
const brokenType = fc.constantFrom<unknown>(
  'date',
  17,
  null,
  [],
  {},
  { t: 'Nope' },
  { t: 'Date', extra: 1 },
  { k: { a: 'Nope' } },
  JSON.parse('{"k":{"__proto__":"Date"}}'),
  { k: { 'bad\u0000': 'Date' } },
);

const validField = fc.record(
  { value, updatedAt: validTimestamp, type: validType },
  { requiredKeys: ['value', 'updatedAt'] },
);

/** `deletedAt` as a field (`fields.deletedAt`, `data.deletedAt`): a timestamp or null, nothing else. */
const deletedAtValue = pick<unknown>(validTimestamp, fc.constant(null));
const brokenDeletedAt = fc.constantFrom<unknown>({}, 'not-a-date', 0, 1, false, true, [], '', { at: 1 });
const withDeletedAt = <T extends Record<string, unknown>>(
  dict: fc.Arbitrary<T>,
  entry: fc.Arbitrary<unknown>,
) =>
  fc
    .tuple(dict, fc.option(entry, { nil: undefined }))
    .map(([d, v]) => (v === undefined ? d : { ...d, deletedAt: v }));

const validChange = fc.record(
  {
    table: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,6}$/),
    id,
    op: fc.constantFrom('insert', 'update', 'delete'),
    fields: withDeletedAt(
      fc.dictionary(name, validField, { maxKeys: 4 }),
      fc.record({ value: deletedAtValue, updatedAt: validTimestamp }),
    ),
    data: withDeletedAt(fc.dictionary(name, value, { maxKeys: 2 }), deletedAtValue),
    deletedAt: pick(validTimestamp, fc.constant(null)),
  },
  { requiredKeys: ['table', 'id', 'op'] },
);

const validBody = fc.record(
  {
    clientId: id,
    since: pick(validTimestamp, fc.constant(null)),
    changes: fc.array(validChange, { maxLength: 4 }),
  },
  { requiredKeys: ['clientId', 'changes'] },
);

// biome-ignore lint/suspicious/noExplicitAny: defects reach into any part of a generated body
type Json = Record<string, any>;
/** One defect, put into a valid body: what a hostile or buggy client sends. */
const defect: fc.Arbitrary<(b: Json) => void> = fc.oneof(
  fc.constantFrom<(b: Json) => void>(
    (b) => delete b.clientId,
    (b) => delete b.changes,
    (b) => (b.extra = 1),
    (b) => (b.changes = {}),
    (b) => (b.changes = [null]),
    (b) => (b.changes = [[]]),
  ),
  fc.tuple(fc.constantFrom('clientId', 'since'), pick(brokenId, brokenTimestamp)).map(
    ([k, v]) =>
      (b: Json) =>
        (b[k] = v),
  ),
  fc
    .tuple(
      fc.constantFrom('table', 'id', 'op', 'deletedAt', 'fields', 'data', 'extra'),
      pick(brokenId, brokenTimestamp, fc.constantFrom('upsert', [], 'x y', 'a/b')),
    )
    .map(([k, v]) => (b: Json) => {
      b.changes.push({ table: 't', id: 'r', op: 'insert', [k]: v });
    }),
  fc.tuple(brokenName, validField).map(([n, f]) => (b: Json) => {
    const fields: Json = {};
    Object.defineProperty(fields, n, { value: f, enumerable: true });
    b.changes.push({ table: 't', id: 'r', op: 'update', fields });
  }),
  fc.tuple(brokenName, value).map(([n, v]) => (b: Json) => {
    const data: Json = {};
    Object.defineProperty(data, n, { value: v, enumerable: true });
    b.changes.push({ table: 't', id: 'r', op: 'update', data });
  }),
  fc
    .oneof(
      fc.record({ value: brokenValue, updatedAt: validTimestamp }),
      fc.record({ value, updatedAt: brokenTimestamp }),
      fc.record({ updatedAt: validTimestamp }),
      fc.record({ value, updatedAt: validTimestamp, extra: fc.constant(1) }),
      fc.record({ value, updatedAt: validTimestamp, type: brokenType }),
      fc.constant([1, 2]),
      fc.constant(null),
    )
    .map((f) => (b: Json) => {
      b.changes.push({ table: 't', id: 'r', op: 'update', fields: { ok: f } });
    }),
  brokenValue.map((v) => (b: Json) => {
    b.changes.push({ table: 't', id: 'r', op: 'update', data: { ok: v } });
  }),
  fc.tuple(brokenDeletedAt, validTimestamp, fc.boolean()).map(([v, at, asField]) => (b: Json) => {
    b.changes.push(
      asField
        ? { table: 't', id: 'r', op: 'update', fields: { deletedAt: { value: v, updatedAt: at } } }
        : { table: 't', id: 'r', op: 'insert', data: { title: 'x', deletedAt: v } },
    );
  }),
);

const brokenBody = fc.tuple(validBody, defect).map(([b, hurt]) => {
  const copy = JSON.parse(JSON.stringify(b)) as Json;
  hurt(copy);
  return copy;
});

/** What a request body becomes: JSON text parsed again (own "__proto__" keys included). */
const overTheWire = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

describe('push body fast check', () => {
  it('accepts every valid body, and zod returns it unchanged', () => {
    fc.assert(
      fc.property(validBody, (b) => {
        const input = overTheWire(b);
        expect(isPlainPushRequest(input)).toBe(true);
        const zod = pushRequestSchema.safeParse(input);
        expect(zod.success).toBe(true);
        expect(zod.data).toEqual(input);
      }),
      { numRuns: 400 },
    );
  });

  it('never accepts what zod refuses or would strip, and parsePushRequest answers as zod does', () => {
    let refused = 0;
    fc.assert(
      fc.property(brokenBody, (b) => {
        const input = overTheWire(b);
        const zod = pushRequestSchema.safeParse(input);
        if (isPlainPushRequest(input)) {
          expect(zod.success).toBe(true);
          expect(zod.data).toEqual(input);
        }
        const fast = parsePushRequest(input);
        expect(fast.success).toBe(zod.success);
        if (!zod.success) {
          refused++;
          expect(fast.error?.issues[0]?.path).toEqual(zod.error.issues[0]?.path);
        }
      }),
      { numRuns: 1500 },
    );
    // The generator really does produce broken bodies.
    expect(refused).toBeGreaterThan(1000);
  });

  it('accepts a field type and hands it on unchanged; a broken one goes to zod, which names it', () => {
    const type = { k: { at: 'Date', tags: 'Set' } };
    const body = {
      clientId: 'c',
      changes: [
        {
          table: 't',
          id: 'a',
          op: 'update',
          fields: {
            meta: {
              value: { at: '2024-05-01T10:00:00.123Z', tags: [1] },
              updatedAt: '2024-01-01T00:00:00Z',
              type,
            },
          },
        },
      ],
    };
    expect(isPlainPushRequest(body)).toBe(true);
    expect(parsePushRequest(body).data?.changes[0]?.fields?.meta?.type).toEqual(type);
    const broken = overTheWire(body) as Json;
    broken.changes[0].fields.meta.type = { k: { at: 'Dat' } };
    expect(isPlainPushRequest(broken)).toBe(false);
    const parsed = parsePushRequest(broken);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['changes', 0, 'fields', 'meta', 'type']);
    expect(parsed.error?.issues[0]?.message).toMatch(/unknown value tag "Dat"/);
  });

  it('sends a body with a "__proto__" field to zod, which names it', () => {
    const input = JSON.parse(
      '{"clientId":"c","changes":[{"table":"t","id":"a","op":"insert","fields":{"__proto__":{"value":1,"updatedAt":"2024-01-01T00:00:00Z"}}}]}',
    );
    expect(isPlainPushRequest(input)).toBe(false);
    const parsed = parsePushRequest(input);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['changes', 0, 'fields', '__proto__']);
  });

  it('refuses a deletedAt that is not a timestamp or null, top-level, as a field or in data, naming it', () => {
    const at = '2024-01-01T00:00:00.000Z';
    for (const bad of [{}, 'not-a-date', 0, false, [], '9999-99-99T00:00:00Z']) {
      const cases: Array<[Json, Array<string | number>]> = [
        [{ table: 't', id: 'r', op: 'delete', deletedAt: bad }, ['changes', 0, 'deletedAt']],
        [
          { table: 't', id: 'r', op: 'update', fields: { deletedAt: { value: bad, updatedAt: at } } },
          ['changes', 0, 'fields', 'deletedAt', 'value'],
        ],
        [
          { table: 't', id: 'r', op: 'insert', data: { deletedAt: bad } },
          ['changes', 0, 'data', 'deletedAt'],
        ],
      ];
      for (const [change, path] of cases) {
        const input = overTheWire({ clientId: 'c', changes: [change] });
        expect(isPlainPushRequest(input), JSON.stringify(change)).toBe(false);
        const parsed = parsePushRequest(input);
        expect(parsed.success, JSON.stringify(change)).toBe(false);
        expect(parsed.error?.issues[0]?.path).toEqual(path);
      }
    }
    for (const ok of [null, at, '2024-01-01T10:00:00+02:00']) {
      const input = overTheWire({
        clientId: 'c',
        changes: [
          {
            table: 't',
            id: 'r',
            op: 'update',
            fields: { deletedAt: { value: ok, updatedAt: at } },
            data: { deletedAt: ok },
          },
        ],
      });
      expect(isPlainPushRequest(input)).toBe(true);
    }
  });

  it('isAppId accepts exactly what appIdSchema accepts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9_-]{0,80}$/)), (s) => {
        expect(isAppId(s)).toBe(appIdSchema.safeParse(s).success);
      }),
      { numRuns: 1000 },
    );
  });

  it('each identifier table check accepts exactly what its regex matches', () => {
    // Every ASCII character, some that only look like ASCII, and astral ones.
    const char = fc.oneof(
      fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('é', 'ａ', '٣', '\u00a0', '😀', '\ud800'),
    );
    const text = fc.array(char, { maxLength: 12 }).map((cs) => cs.join(''));
    for (const kind of ['appId', 'table', 'id', 'field'] as const) {
      fc.assert(
        fc.property(text, (s) => {
          expect(ID_MATCHES[kind](s), `${kind}: ${JSON.stringify(s)}`).toBe(ID_PATTERN[kind].test(s));
        }),
        { numRuns: 3000 },
      );
    }
  });

  it('identifiers allow the documented characters, and no other', () => {
    const cases = {
      appId: { ok: ['todo', 'Todo-2', '9_lives', 'a'], bad: ['-todo', '_x', 'a.b', 'a b', ''] },
      table: { ok: ['todos', '_meta', 'a.b-c_9'], bad: ['9lives', '-x', 'a:b', 'a/b', ''] },
      id: { ok: ['abc', '9', 'user@host:1+2=3~_.-'], bad: ['a b', 'a/b', 'a#b', 'é', ''] },
      field: { ok: ['title', '$id', '_x', 'a.b-c$9'], bad: ['9lives', '-x', 'a:b', 'a b', ''] },
    };
    for (const [kind, { ok, bad }] of Object.entries(cases) as Array<
      [keyof typeof cases, (typeof cases)['id']]
    >) {
      for (const s of ok) expect(ID_PATTERN[kind].test(s), `${kind} ${s}`).toBe(true);
      for (const s of bad) expect(ID_PATTERN[kind].test(s), `${kind} ${s}`).toBe(false);
    }
  });

  it('finds unpaired surrogates and NUL in any string, as the regex does', () => {
    const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const unit = fc.oneof(
      fc.constantFrom('a', '\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '😀', 'é', '\uffff'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 10 }), (units) => {
        const s = units.join('');
        const expected = s.includes('\u0000') ? 'nul' : LONE.test(s) ? 'surrogate' : 'ok';
        const problem = stringProblem(s);
        expect(problem === null ? 'ok' : problem.includes('NUL') ? 'nul' : 'surrogate').toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });
});
