import { z } from 'zod';
import { LIMITS } from './constants.js';
import { stringProblem } from './json-value.js';

/**
 * Values that JSON cannot hold, as they travel: the value itself stays plain JSON that any
 * JSON-only client reads (the Mana web app reads a date as its ISO string), and its type
 * travels BESIDE it, as `type` next to `value` in a pushed field, a server change's field,
 * and as `clientType`/`serverType` in a conflict. A field without `type` is plain JSON. The
 * type is never inside the value, so no plain object written by another client can be taken
 * for an encoded one. The server stores the type with the field and sends it back; it never
 * reads it. A field written again without a type (by a JSON-only client) loses its old type.
 *
 * Each part of a value that is not plain JSON has a tag, and its encoded JSON form:
 *
 *   tag                           JavaScript value            value on the wire (plain JSON)
 *   `Date`                        Date                        ISO-8601 string (`toISOString()`); invalid date: null
 *   `BigInt`                      bigint                      decimal string: "1180591620717411303424"
 *   `NaN` `Infinity` `-Infinity`  those numbers               null
 *   `-0`                          -0                          0
 *   `undefined`                   undefined                   null
 *   `Map`                         Map                         array of entries: [[key, value], …]
 *   `Set`                         Set                         array of the members: [a, b, …]
 *   `ArrayBuffer`, `DataView`,    the bytes (of the view's    base64 string (RFC 4648, padded)
 *   `Uint8Array`, … (every        range)
 *   typed array by its name)
 *   `Blob`, `File`                Blob, File                  base64 string of the contents; the MIME type,
 *                                                             file name and lastModified in the type node
 *
 * The type (`ValueType`) mirrors the encoded JSON value, and names only its non-JSON parts:
 *
 *   ValueType = Tag                                   the whole value is one tagged leaf
 *             | { t?: Tag,                            this node's own tag (Map, Set, Blob, File)
 *                 k?: { [key]: ValueType },           types of the encoded value's children, by
 *                                                     object key or array index ("0", "1", …)
 *                 mime?, name?, lastModified? }       a Blob's or File's metadata
 *
 * Decoding goes children first, then the node's own tag. Examples (value → wire value, type):
 *
 *   new Date('2024-05-01T10:00:00.123Z')   "2024-05-01T10:00:00.123Z"   "Date"
 *   { at: new Date(0), n: 1 }              { at: "1970-01-01T00:00:00.000Z", n: 1 }   { k: { at: "Date" } }
 *   new Map([['a', 1n]])                   [["a", "1"]]                 { t: "Map", k: { "0": { k: { "1": "BigInt" } } } }
 *   new Set([1, 2])                        [1, 2]                       "Set"
 *   new Uint8Array([0, 255])               "AP8="                       "Uint8Array"
 *   [1, NaN, undefined]                    [1, null, null]              { k: { "1": "NaN", "2": "undefined" } }
 *
 * Limits: a binary value (ArrayBuffer, typed array, DataView, Blob, File) holds at most
 * MAX_BINARY_BYTES (256 KiB, 342 KiB as base64). Records are capped at about 1 MiB of stored
 * JSON (a later hardening issue), so a record holds two such values plus ordinary fields.
 * Shared references are sent as copies; cycles, functions, symbols and class instances other
 * than the ones above cannot be encoded (value-codec.ts refuses them, naming the part).
 */

/** The typed arrays, each tagged by its constructor name. */
export const TYPED_ARRAY_TAGS = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/** Every tag, in the order of the table above. */
export const VALUE_TAGS = [
  'Date',
  'BigInt',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  'undefined',
  'Map',
  'Set',
  'ArrayBuffer',
  'DataView',
  ...TYPED_ARRAY_TAGS,
  'Blob',
  'File',
] as const;
export type ValueTag = (typeof VALUE_TAGS)[number];

/** A node of the type tree: its own tag, its children's types, a Blob's or File's metadata. */
export interface ValueTypeNode {
  t?: ValueTag;
  k?: { [key: string]: ValueType };
  /** A Blob's or File's MIME type (absent: empty). */
  mime?: string;
  /** A File's name. */
  name?: string;
  /** A File's lastModified, milliseconds since the epoch. */
  lastModified?: number;
}
export type ValueType = ValueTag | ValueTypeNode;

/** Largest binary value (ArrayBuffer, typed array, DataView, Blob, File) a field may hold. */
export const MAX_BINARY_BYTES = 256 * 1024;

/** Longest MIME type or file name a type node carries. */
const MAX_META_LENGTH = 1024;

const TAGS: ReadonlySet<string> = new Set(VALUE_TAGS);
export const isValueTag = (s: unknown): s is ValueTag => typeof s === 'string' && TAGS.has(s);

/**
 * Why `type` is not a ValueType, or null when it is. Iterative, so a hostile depth cannot
 * overflow the stack; its depth is bounded like a value's (LIMITS.maxValueDepth), and its
 * strings like a value's (jsonb: no NUL, no unpaired surrogate). A child named `__proto__` is
 * refused: a JSON object parsed into a record would lose it.
 */
export function valueTypeProblem(type: unknown): string | null {
  const stack: Array<[unknown, number]> = [[type, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node === 'string') {
      if (!TAGS.has(node)) return `unknown value tag ${JSON.stringify(node.slice(0, 40))}`;
      continue;
    }
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return 'a tag or a type node';
    if (depth > LIMITS.maxValueDepth) return `type nesting deeper than ${LIMITS.maxValueDepth}`;
    const n = node as Record<string, unknown>;
    let keys = 0;
    for (const key in n) {
      keys++;
      if (key !== 't' && key !== 'k' && key !== 'mime' && key !== 'name' && key !== 'lastModified')
        return `unknown type node key ${JSON.stringify(key.slice(0, 40))}`;
    }
    if (keys === 0) return 'an empty type node';
    if (n.t !== undefined && !isValueTag(n.t)) return 't: a value tag';
    for (const meta of ['mime', 'name'] as const) {
      const s = n[meta];
      if (s === undefined) continue;
      if (typeof s !== 'string' || s.length > MAX_META_LENGTH)
        return `${meta}: at most ${MAX_META_LENGTH} characters`;
      const problem = stringProblem(s);
      if (problem) return `${meta}: ${problem}`;
    }
    if (
      n.lastModified !== undefined &&
      !(typeof n.lastModified === 'number' && Number.isFinite(n.lastModified))
    )
      return 'lastModified: a finite number';
    if (n.k === undefined) continue;
    const k = n.k;
    if (k === null || typeof k !== 'object' || Array.isArray(k)) return 'k: an object of child types';
    for (const key of Object.keys(k)) {
      if (key === '__proto__') return 'k: a child named __proto__';
      const problem = stringProblem(key);
      if (problem) return `k: ${problem}`;
      stack.push([(k as Record<string, unknown>)[key], depth + 1]);
    }
  }
  return null;
}

/**
 * A field's `type`: how its JSON value encodes a JavaScript value JSON cannot hold (see the
 * top of value-types.ts). Optional everywhere; absent means plain JSON.
 */
export const valueTypeSchema = z
  .custom<ValueType>()
  .superRefine((value, ctx) => {
    const problem = value === undefined ? 'a type is required' : valueTypeProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      'The encoding of a value JSON cannot hold, beside it: a tag (Date, BigInt, NaN, Infinity, -Infinity, -0, undefined, Map, Set, ArrayBuffer, DataView, a typed array name, Blob, File) or a node {t?: tag, k?: {childKey: type}, mime?, name?, lastModified?}. Date: ISO string; BigInt: decimal string; NaN/Infinity/undefined: null; Map: entries; Set: members; bytes: base64.',
  });
