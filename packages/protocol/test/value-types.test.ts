import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeValue,
  type EncodedValue,
  encodeValue,
  hasBlobs,
  MAX_BINARY_BYTES,
  readBlobs,
  ValueEncodingError,
  valueTypeProblem,
  valueTypeSchema,
} from '../src/index.js';

/** What the value becomes on another client: encoded, blobs read, sent as JSON text, decoded. */
async function overTheWire(v: unknown): Promise<unknown> {
  const sent = JSON.parse(JSON.stringify(await readBlobs(encodeValue(v)))) as EncodedValue;
  return decodeValue(sent.value, sent.type);
}

/** What a JSON-only client (the Mana web app) reads: the value, the type ignored. */
const asJson = (v: unknown) => JSON.parse(JSON.stringify(encodeValue(v).value));

/** A value with Blobs described by their contents, for comparison (toEqual sees no Blob contents). */
async function contents(v: unknown): Promise<unknown> {
  if (v instanceof Blob) {
    const bytes = [...new Uint8Array(await v.arrayBuffer())];
    return v instanceof File
      ? { File: [v.name, v.type, v.lastModified, bytes] }
      : { Blob: [v.constructor.name, v.type, bytes] };
  }
  if (Array.isArray(v)) return Promise.all(v.map(contents));
  if (v instanceof Map) return { Map: await contents([...v]) };
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await contents(x);
    return out;
  }
  return v;
}

const when = new Date('2024-05-01T10:00:00.123Z');
const bytes = new Uint8Array([0, 1, 254, 255]);

/** One of each supported value. */
const everyKind = (): Record<string, unknown> => ({
  date: when,
  big: 2n ** 70n,
  negativeBig: -(2n ** 64n),
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  negInf: Number.NEGATIVE_INFINITY,
  negZero: -0,
  undef: undefined,
  nul: null,
  map: new Map<unknown, unknown>([
    ['a', 1],
    [2, { deep: true }],
    [when, new Set([1n])],
  ]),
  set: new Set(['x', 1, when]),
  buffer: new Uint8Array([9, 8, 7]).buffer,
  view: new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2),
  u8: bytes,
  i8: new Int8Array([-128, 127]),
  u8c: new Uint8ClampedArray([0, 255]),
  i16: new Int16Array([-1, 300]),
  u16: new Uint16Array([65535]),
  i32: new Int32Array([-(2 ** 31)]),
  u32: new Uint32Array([2 ** 32 - 1]),
  f32: new Float32Array([1.5, Number.NaN]),
  f64: new Float64Array([Math.PI, -0]),
  bi64: new BigInt64Array([-(2n ** 63n)]),
  bu64: new BigUint64Array([2n ** 64n - 1n]),
  plain: { text: 'é ☕', n: 1.5, yes: true, list: [1, 'two', null] },
});

describe('value types: encode and decode', () => {
  it('every supported type comes back as itself, at the top and at any depth', async () => {
    const kinds = everyKind();
    for (const [name, v] of Object.entries(kinds)) {
      expect(await overTheWire(v), name).toStrictEqual(v);
    }
    const nested = {
      ...kinds,
      inObject: { again: everyKind() },
      inArray: [everyKind(), [when, [bytes]]],
      inMap: new Map([['k', everyKind()]]),
      inSet: new Set([everyKind()]),
      mapKeys: new Map<unknown, unknown>([[new Map([[1n, when]]), 'map as key']]),
    };
    expect(await overTheWire(nested)).toStrictEqual(nested);
  });

  it('a DataView keeps exactly its range, a typed array view exactly its elements', async () => {
    const buffer = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer;
    const view = (await overTheWire(new DataView(buffer, 2, 3))) as DataView;
    expect([...new Uint8Array(view.buffer)]).toEqual([3, 4, 5]);
    const sub = (await overTheWire(new Uint16Array(buffer, 2, 2))) as Uint16Array;
    expect(sub).toStrictEqual(new Uint16Array(buffer, 2, 2).slice());
  });

  it('Blobs and Files travel with their contents, MIME type, name and lastModified', async () => {
    const blob = new Blob([bytes], { type: 'image/png' });
    const untyped = new Blob(['plain text']);
    const file = new File(['hello'], 'hello.txt', { type: 'text/plain', lastModified: 1_700_000_000_000 });
    const value = { blob, untyped, file, list: [new Blob(['x'])] };
    const encoded = encodeValue(value);
    expect(hasBlobs(encoded.type)).toBe(true);
    const back = await overTheWire(value);
    expect(await contents(back)).toEqual(await contents(value));
    expect((back as typeof value).file).toBeInstanceOf(File);
    // The wire value is the contents as base64; the type carries the metadata.
    const read = await readBlobs(encoded);
    expect(read.value).toMatchObject({ blob: 'AAH+/w==', untyped: btoa('plain text'), file: btoa('hello') });
    expect(read.type).toEqual({
      k: {
        blob: { t: 'Blob', mime: 'image/png' },
        untyped: 'Blob',
        file: { t: 'File', mime: 'text/plain', name: 'hello.txt', lastModified: 1_700_000_000_000 },
        list: { k: { 0: 'Blob' } },
      },
    });
  });

  it('undefined stays apart from null, a hole in an array comes back undefined', async () => {
    expect(await overTheWire({ a: undefined, b: null })).toStrictEqual({ a: undefined, b: null });
    expect(Object.keys((await overTheWire({ a: undefined })) as object)).toEqual(['a']);
    // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
    expect(await overTheWire([1, , 3])).toEqual([1, undefined, 3]);
    expect(await overTheWire(undefined)).toBe(undefined);
    expect(await overTheWire(null)).toBe(null);
    const invalid = (await overTheWire(new Date(Number.NaN))) as Date;
    expect(invalid).toBeInstanceOf(Date);
    expect(invalid.getTime()).toBeNaN();
  });

  it('the value stays plain JSON a JSON-only client reads: ISO strings, base64, entries, decimal strings', () => {
    expect(asJson(when)).toBe('2024-05-01T10:00:00.123Z');
    expect(asJson(bytes)).toBe('AAH+/w==');
    expect(asJson(new Map([['a', 1]]))).toEqual([['a', 1]]);
    expect(asJson(new Set(['x', 'y']))).toEqual(['x', 'y']);
    expect(asJson(2n ** 70n)).toBe('1180591620717411303424');
    expect(asJson({ at: when, n: Number.NaN, z: -0, u: undefined })).toEqual({
      at: '2024-05-01T10:00:00.123Z',
      n: null,
      z: 0,
      u: null,
    });
    // The type beside it, compact: only the parts that are not plain JSON.
    expect(encodeValue({ at: when, title: 'x', tags: ['a'] }).type).toEqual({ k: { at: 'Date' } });
    expect(encodeValue(new Map([['a', 1n]])).type).toEqual({ t: 'Map', k: { 0: { k: { 1: 'BigInt' } } } });
    expect(encodeValue(new Set([1, 2])).type).toBe('Set');
  });

  it('plain JSON has no type and is not copied', () => {
    const plain = { title: 'x', list: [1, { deep: [null, true] }] };
    const encoded = encodeValue(plain);
    expect(encoded).toEqual({ value: plain });
    expect(encoded.value).toBe(plain);
  });

  it('a plain object that looks like an encoding stays a plain object', async () => {
    const lookalikes: unknown[] = [
      '2024-05-01T10:00:00.123Z',
      'AAH+/w==',
      '1180591620717411303424',
      [['a', 1]],
      { t: 'Date', k: { x: 'Map' } },
      { $date: '2024-05-01T10:00:00.123Z' },
      { type: 'Date', value: '2024-05-01T10:00:00.123Z' },
      { __type: 'Map', entries: [['a', 1]] },
    ];
    for (const v of lookalikes) {
      expect(encodeValue(v).type).toBeUndefined();
      expect(await overTheWire(v)).toStrictEqual(v);
      // A value another client sent without a type is never decoded, whatever it looks like.
      expect(decodeValue(v, undefined)).toBe(v);
    }
  });

  it('decoding never throws: a value that does not fit its type stays as it came', () => {
    const cases: Array<[unknown, unknown]> = [
      [5, 'Date'],
      ['not a number', 'BigInt'],
      ['@@@', 'Uint8Array'],
      ['AAE=', 'Uint32Array'], // 2 bytes: not a whole Uint32
      [[1, 2], 'Map'],
      ['x', 'Set'],
      [{ a: 1 }, { k: { b: 'Date' } }],
      [3, { t: 'Map', k: { 0: 'Date' } }],
      ['x', 'no such tag'],
      [1, 'NaN'],
      [{ a: 1 }, 17],
    ];
    for (const [value, type] of cases)
      expect(decodeValue(value, type), JSON.stringify([value, type])).toStrictEqual(value);
  });

  it('refuses what no encoding covers, naming the part', () => {
    class Note {
      title = 'x';
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const refused: Array<[unknown, RegExp]> = [
      [{ f: () => 1 }, /^f: a function cannot sync/],
      [{ list: [1, Symbol('s')] }, /^list\[1\]: a symbol cannot sync/],
      [{ deep: { note: new Note() } }, /^deep\.note: a Note instance cannot sync/],
      [{ re: /x/ }, /^re: a RegExp instance cannot sync/],
      [{ err: new Error('x') }, /^err: a Error instance cannot sync/],
      [cyclic, /^self: a cyclic structure cannot sync/],
      [new Map<string, unknown>([['m', new Map()]]).set('self', null), /^$/], // fine: not cyclic
      [
        { big: new Uint8Array(MAX_BINARY_BYTES + 1) },
        /^big: a binary value of 262145 bytes is larger than the 256 KiB/,
      ],
      [
        { blob: new Blob([new Uint8Array(MAX_BINARY_BYTES + 1)]) },
        /^blob: a binary value .* larger than the 256 KiB/,
      ],
      [{ s: 'nul\u0000' }, /^s: strings must not contain NUL/],
      [{ 'lone\ud800': 1 }, /key: strings must be well-formed/],
      [{ shared: new SharedArrayBuffer(2) }, /^shared: a SharedArrayBuffer instance cannot sync/],
    ];
    for (const [value, message] of refused) {
      if (message.source === '^$') {
        expect(() => encodeValue(value)).not.toThrow();
        continue;
      }
      expect(() => encodeValue(value)).toThrow(ValueEncodingError);
      expect(() => encodeValue(value)).toThrow(message);
    }
    // Exactly the limit is fine.
    expect(() => encodeValue(new Uint8Array(MAX_BINARY_BYTES))).not.toThrow();
    // A shared (not cyclic) reference is sent twice and comes back as two equal copies.
    const shared = { when };
    expect(() => encodeValue({ a: shared, b: [shared] })).not.toThrow();
  });

  it('refuses nesting deeper than the server stores', () => {
    let deep: unknown = when;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(() => encodeValue(deep)).toThrow(/nesting deeper than 64/);
  });

  it('on generated values: the round trip is exact, the value is plain JSON, the type is valid', async () => {
    const value = fc.anything({
      key: fc.string().filter((k) => k !== '__proto__'),
      maxDepth: 4,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
    });
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        fc.pre(!containsInvalidDate(v));
        const encoded = encodeValue(v);
        expect(JSON.parse(JSON.stringify(encoded.value))).toStrictEqual(encoded.value);
        if (encoded.type !== undefined) {
          expect(valueTypeProblem(encoded.type)).toBeNull();
          expect(valueTypeSchema.safeParse(encoded.type).success).toBe(true);
        }
        expect(await overTheWire(v)).toStrictEqual(v);
      }),
      { numRuns: 400 },
    );
  });
});

function containsInvalidDate(v: unknown, seen = new Set<unknown>()): boolean {
  if (v instanceof Date) return Number.isNaN(v.getTime());
  if (v === null || typeof v !== 'object' || seen.has(v)) return false;
  seen.add(v);
  const items = v instanceof Map ? [...v].flat() : v instanceof Set ? [...v] : Object.values(v);
  return items.some((x) => containsInvalidDate(x, seen));
}

describe('value types: the type schema', () => {
  it('accepts tags and nodes, refuses anything else', () => {
    const ok: unknown[] = [
      'Date',
      'Uint8Array',
      { t: 'Map' },
      { k: { a: 'Date', 0: { k: { x: 'BigInt' } } } },
      { t: 'File', mime: 'text/plain', name: 'a.txt', lastModified: 5 },
    ];
    const bad: unknown[] = [
      'date',
      '',
      17,
      null,
      [],
      {},
      { t: 'Nope' },
      { t: 'Date', extra: 1 },
      { k: [] },
      { k: { a: 'Nope' } },
      { k: JSON.parse('{"__proto__":"Date"}') },
      { k: { 'bad\u0000': 'Date' } },
      { t: 'Blob', mime: 'x'.repeat(2000) },
      { t: 'File', lastModified: 'yesterday' },
    ];
    for (const t of ok) expect(valueTypeProblem(t), JSON.stringify(t)).toBeNull();
    for (const t of bad) expect(valueTypeProblem(t), JSON.stringify(t)).not.toBeNull();
    let deep: unknown = 'Date';
    for (let i = 0; i < 70; i++) deep = { k: { 0: deep } };
    expect(valueTypeProblem(deep)).toMatch(/deeper/);
  });
});
