import fc from 'fast-check';

/**
 * Inputs for protocol fuzzing: valid push bodies to start from, hostile values to splice
 * in, and a mutator that walks a JSON tree and replaces, deletes, adds or duplicates at a
 * random spot. Hostile values are the classics: wrong types, huge strings, deep nesting,
 * unicode edge cases (lone surrogates, NUL, RTL, emoji), prototype-pollution keys,
 * numbers where ids belong, non-finite and unsafe numbers.
 */

type Json = unknown;

const deep = (depth: number, leaf: Json = 1): Json => {
  let v: Json = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? { k: v } : [v];
  return v;
};

export const HOSTILE: Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2 ** 53 + 1,
  123,
  '',
  ' ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'a\u0000b',
  '\ud800',
  '\udc00x',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '🎉'.repeat(50),
  'é',
  '../../etc/passwd',
  "'; DROP TABLE sync_records; --",
  'x'.repeat(300),
  'x'.repeat(70_000),
  '2024-01-01T10:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999Z',
  '2024-02-30T10:00:00Z',
  '2024-01-01T24:00:00Z',
  '1969-12-31T23:59:59Z',
  '2024-01-01T10:00:00.1234567890123Z',
  '2024-01-01T10:00:00+99:99',
  [],
  {},
  [null],
  JSON.parse('{"__proto__":{"polluted":true}}'),
  JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
  deep(63),
  deep(64),
  deep(65),
  deep(1000),
];

/**
 * A hostile constant, printed by fast-check as its index: some are too big or too deep to
 * print (fast-check's own stringify would overflow on 5000 levels).
 */
class Hostile {
  constructor(readonly index: number) {}
  [fc.toStringMethod]() {
    return `HOSTILE[${this.index}]`;
  }
}

/** The JSON value behind a generated value (resolves HOSTILE references). */
export function resolve(v: Json): Json {
  return v instanceof Hostile ? HOSTILE[v.index] : v;
}

export const hostileArb: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.nat({ max: HOSTILE.length - 1 }).map((i) => new Hostile(i)), weight: 5 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 1 },
);

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'table',
    'id',
    'op',
    'fields',
    'data',
    'deletedAt',
    'value',
    'updatedAt',
    'clientId',
    'since',
    'changes',
    'schemaVersion',
    'actor',
    '',
    'a.b',
    '$x',
    '0',
  ),
  fc.string({ maxLength: 10 }),
);

const ts = fc
  .integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2026, 0, 1) })
  .map((ms) => new Date(ms).toISOString());
const name = (pool: string[]) => fc.constantFrom(...pool);

/** What the Mana web app adds to a change: its schema version and who wrote it. */
const webAppKeys = {
  schemaVersion: fc.constant(1),
  actor: fc.oneof(
    fc.constant({ type: 'user', id: 'u-1' }),
    fc.constant({ type: 'ai', agent: 'planner', run: 7 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  ),
};
const webApp = { requiredKeys: [] as [] };

export const validChangeArb = fc.oneof(
  fc.record(
    {
      table: name(['tasks', 'notes', 'a.b-c_d']),
      id: name(['r1', 'r2', 'x:y@z', 'a'.repeat(256)]),
      op: fc.constantFrom('insert', 'update'),
      fields: fc.dictionary(
        name(['title', 'done', '$meta', 'toString', 'a.b']),
        fc.record({ value: fc.jsonValue({ maxDepth: 2 }), updatedAt: ts }),
        { maxKeys: 3 },
      ),
      ...webAppKeys,
    },
    { requiredKeys: ['table', 'id', 'op', 'fields'] },
  ),
  // The web app's insert: the whole record as data, its own time in it.
  fc.record(
    {
      table: name(['tasks', 'notes']),
      id: name(['r1', 'r2']),
      op: fc.constant('insert'),
      data: fc.record({ title: fc.jsonValue({ maxDepth: 2 }), createdAt: ts, updatedAt: ts }, webApp),
      ...webAppKeys,
    },
    { requiredKeys: ['table', 'id', 'op', 'data'] },
  ),
  fc.record(
    {
      table: name(['tasks', 'notes']),
      id: name(['r1', 'r2']),
      // The web app soft-deletes with deletedAt on any op.
      op: fc.constantFrom('delete', 'delete', 'update'),
      deletedAt: ts,
      ...webAppKeys,
    },
    { requiredKeys: ['table', 'id', 'op', 'deletedAt'] },
  ),
);

export const validPushArb = fc.record(
  {
    clientId: name(['c1', 'tab-1', 'a:b@c']),
    since: ts,
    changes: fc.array(validChangeArb, { maxLength: 5 }),
    schemaVersion: fc.constant(1),
  },
  { requiredKeys: ['clientId', 'changes'] },
);

export interface Mutation {
  steps: number[];
  action: 'replace' | 'delete' | 'add' | 'duplicate';
  key: string;
  value: Json;
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  steps: fc.array(fc.nat(), { maxLength: 6 }),
  action: fc.constantFrom('replace', 'replace', 'delete', 'add', 'duplicate'),
  key: keyArb,
  value: hostileArb,
});

/** Applies a mutation to a deep copy of `root` (walks `steps`, stopping at a leaf). */
export function mutate(root: Json, m: Mutation): Json {
  const copy = structuredClone(root);
  const value = resolve(m.value);
  const holder = { root: copy as Json };
  let parent: Record<string, Json> | Json[] = holder as Record<string, Json>;
  let at: string | number = 'root';
  for (const step of m.steps) {
    const node = (parent as Record<string, Json>)[at as string];
    if (node === null || typeof node !== 'object') break;
    const keys: Array<string | number> = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    parent = node as Record<string, Json>;
    at = keys[step % keys.length]!;
  }
  const container = parent as Record<string, Json>;
  switch (m.action) {
    case 'replace':
      container[at as string] = value;
      break;
    case 'delete':
      if (Array.isArray(container)) container.splice(at as number, 1);
      else delete container[at as string];
      break;
    case 'add': {
      const node = container[at as string];
      if (Array.isArray(node)) node.push(value);
      else if (node && typeof node === 'object')
        Object.defineProperty(node, m.key, {
          value: m.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else container[at as string] = value;
      break;
    }
    case 'duplicate': {
      const node = container[at as string];
      if (Array.isArray(node) && node.length > 0) node.push(...Array(1 + (m.steps.length % 4)).fill(node[0]));
      break;
    }
  }
  return holder.root;
}

/** Raw body texts that are not (quite) JSON, or JSON that is not an object. */
export const rawBodyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'null',
    '[]',
    '0',
    '"x"',
    '{',
    '{"clientId":',
    '\uFEFF{"clientId":"c1","changes":[]}',
    '{"clientId":"c1","changes":[],"clientId":"c2"}',
    '{"clientId":"c1","changes":[{"table":"t","id":"i","op":"update","fields":{"a":{"value":1,"updatedAt":"2024-01-01T00:00:00Z"}}}],"changes":[]}',
    '{"__proto__":{"clientId":"c1","changes":[]}}',
    '{"clientId":"c1","changes":[{"table":"t","id":"i","op":"update","fields":{"__proto__":{"value":1,"updatedAt":"2024-01-01T00:00:00Z"}}}]}',
    '{"clientId":"c1","changes":[{"table":"t","id":"i","op":"update","data":{"__proto__":1}}]}',
    '{"clientId":"c1","changes":[{"table":"t","id":"i","op":"update","fields":{"a":{"value":"\\ud800","updatedAt":"2024-01-01T00:00:00Z"}}}]}',
    '{"clientId":"c1","changes":[{"table":"t","id":"i","op":"update","fields":{"a":{"value":1e999,"updatedAt":"2024-01-01T00:00:00Z"}}}]}',
    `{"clientId":"c1","changes":[{"table":"t","id":"i","op":"update","fields":{"a":{"value":${'['.repeat(100_000)}${']'.repeat(100_000)},"updatedAt":"2024-01-01T00:00:00Z"}}}]}`,
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);
