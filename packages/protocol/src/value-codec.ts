import { LIMITS } from './constants.js';
import { stringProblem } from './json-value.js';
import {
  isValueTag,
  MAX_BINARY_BYTES,
  TYPED_ARRAY_TAGS,
  type ValueTag,
  type ValueType,
  type ValueTypeNode,
} from './value-types.js';

/**
 * Encoding and decoding of field values (the format is described in value-types.ts). Pure: no
 * clock, no I/O. Blob and File contents can only be read asynchronously, so `encodeValue`
 * leaves each Blob in place (its size checked, its type node made) and `readBlobs` replaces
 * them by their base64 contents afterwards.
 */

/** A value as it travels: plain JSON (Blobs until `readBlobs`) and, when needed, its type. */
export interface EncodedValue {
  value: unknown;
  type?: ValueType;
}

/** A value that cannot be encoded; `path` names the part (`""`: the value itself). */
export class ValueEncodingError extends TypeError {
  override name = 'ValueEncodingError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `${path}: ${problem}` : problem);
  }
}

const SUPPORTED =
  'plain objects and arrays, Date, Map, Set, BigInt, ArrayBuffer, typed arrays, DataView, Blob and File sync';

const TYPED_ARRAYS = TYPED_ARRAY_TAGS;
type TypedArrayTag = (typeof TYPED_ARRAYS)[number];
const isTypedArrayTag = (s: string): s is TypedArrayTag => (TYPED_ARRAYS as readonly string[]).includes(s);

/** `[object Date]` → `Date`: realm-proof (a value from another frame or a Node Buffer still says what it is). */
const kindOf = (v: object) => Object.prototype.toString.call(v).slice(8, -1);

/**
 * A value as wire JSON and its type. Plain JSON comes back as the same reference, with no
 * type. Throws ValueEncodingError for what no encoding covers (functions, symbols, class
 * instances other than the supported ones, cycles, binary values over MAX_BINARY_BYTES,
 * nesting deeper than LIMITS.maxValueDepth, strings jsonb refuses).
 */
export function encodeValue(value: unknown): EncodedValue {
  return encode(value, '', 0, []);
}

function encode(v: unknown, path: string, depth: number, ancestors: object[]): EncodedValue {
  switch (typeof v) {
    case 'string': {
      const problem = stringProblem(v);
      if (problem) throw new ValueEncodingError(path, problem);
      return { value: v };
    }
    case 'boolean':
      return { value: v };
    case 'number':
      if (Number.isFinite(v)) return v === 0 && 1 / v < 0 ? { value: 0, type: '-0' } : { value: v };
      return { value: null, type: Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity' };
    case 'bigint':
      return { value: v.toString(), type: 'BigInt' };
    case 'undefined':
      return { value: null, type: 'undefined' };
    case 'object':
      if (v === null) return { value: null };
      return encodeObject(v, path, depth, ancestors);
    default:
      throw new ValueEncodingError(path, `a ${typeof v} cannot sync (${SUPPORTED})`);
  }
}

function encodeObject(v: object, path: string, depth: number, ancestors: object[]): EncodedValue {
  if (ancestors.includes(v)) throw new ValueEncodingError(path, 'a cyclic structure cannot sync');
  const kind = kindOf(v);
  if (kind === 'Date') {
    const time = (v as Date).getTime();
    return { value: Number.isNaN(time) ? null : (v as Date).toISOString(), type: 'Date' };
  }
  if (kind === 'ArrayBuffer')
    return { value: toBase64(bytesOf(new Uint8Array(v as ArrayBuffer), path)), type: 'ArrayBuffer' };
  if (ArrayBuffer.isView(v)) {
    const tag = kind === 'DataView' || isTypedArrayTag(kind) ? kind : null;
    if (tag === null) throw new ValueEncodingError(path, `a ${kind} cannot sync (${SUPPORTED})`);
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return { value: toBase64(bytesOf(bytes, path)), type: tag };
  }
  if (kind === 'Blob' || kind === 'File') return encodeBlob(v as Blob, kind, path);
  if (depth >= LIMITS.maxValueDepth)
    throw new ValueEncodingError(path, `nesting deeper than ${LIMITS.maxValueDepth}`);
  ancestors.push(v);
  try {
    if (Array.isArray(v)) return encodeArray(v, path, depth, ancestors);
    if (kind === 'Map' || kind === 'Set') {
      const items = kind === 'Map' ? [...(v as Map<unknown, unknown>)] : [...(v as Set<unknown>)];
      const inner = encodeArray(items, path, depth, ancestors);
      const tag: ValueTag = kind;
      return {
        value: inner.value,
        type: inner.type === undefined ? tag : { t: tag, ...(inner.type as ValueTypeNode) },
      };
    }
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null)
      return encodeRecord(v as Record<string, unknown>, path, depth, ancestors);
    const name = (proto as { constructor?: { name?: string } }).constructor?.name || kind;
    throw new ValueEncodingError(path, `a ${name} instance cannot sync (${SUPPORTED})`);
  } finally {
    ancestors.pop();
  }
}

/** Arrays (and a Map's entries, a Set's members): a hole is undefined. */
function encodeArray(v: readonly unknown[], path: string, depth: number, ancestors: object[]): EncodedValue {
  let out: unknown[] | undefined;
  let k: Record<string, ValueType> | undefined;
  for (let i = 0; i < v.length; i++) {
    const item = v[i];
    const e = encode(item, `${path}[${i}]`, depth + 1, ancestors);
    if (e.type === undefined) continue;
    out ??= v.slice();
    out[i] = e.value;
    k ??= {};
    k[i] = e.type;
  }
  return out === undefined ? { value: v } : { value: out, type: { k: k! } };
}

function encodeRecord(
  v: Record<string, unknown>,
  path: string,
  depth: number,
  ancestors: object[],
): EncodedValue {
  let out: Record<string, unknown> | undefined;
  let k: Record<string, ValueType> | undefined;
  for (const key of Object.keys(v)) {
    const keyProblem = stringProblem(key);
    const at = path ? `${path}.${key}` : key;
    if (keyProblem) throw new ValueEncodingError(at, `key: ${keyProblem}`);
    const e = encode(v[key], at, depth + 1, ancestors);
    if (e.type === undefined) continue;
    if (key === '__proto__')
      throw new ValueEncodingError(at, 'a key named __proto__ cannot hold a typed value');
    out ??= copyRecord(v);
    out[key] = e.value;
    k ??= {};
    k[key] = e.type;
  }
  return out === undefined ? { value: v } : { value: out, type: { k: k! } };
}

function encodeBlob(blob: Blob, kind: 'Blob' | 'File', path: string): EncodedValue {
  if (blob.size > MAX_BINARY_BYTES) throw tooLarge(path, blob.size);
  const node: ValueTypeNode = { t: kind };
  if (blob.type) node.mime = blob.type;
  if (kind === 'File') {
    const file = blob as File;
    node.name = file.name;
    node.lastModified = file.lastModified;
  }
  return { value: blob, type: node.mime === undefined && kind === 'Blob' ? 'Blob' : node };
}

const tooLarge = (path: string, size: number) =>
  new ValueEncodingError(
    path,
    `a binary value of ${size} bytes is larger than the ${MAX_BINARY_BYTES / 1024} KiB that sync (MAX_BINARY_BYTES)`,
  );

function bytesOf(bytes: Uint8Array, path: string): Uint8Array {
  if (bytes.byteLength > MAX_BINARY_BYTES) throw tooLarge(path, bytes.byteLength);
  return bytes;
}

/** An own-property copy; `__proto__` stays an own key (as JSON.parse makes it), never the prototype. */
function copyRecord(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) setOwn(out, key, v[key]);
  return out;
}

function setOwn(o: Record<string, unknown>, key: string, value: unknown) {
  if (key === '__proto__')
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

/** True when the type has a Blob or File part, whose contents `readBlobs` must read. */
export function hasBlobs(type: ValueType | undefined): boolean {
  if (type === undefined) return false;
  if (typeof type === 'string') return type === 'Blob' || type === 'File';
  if (type.t === 'Blob' || type.t === 'File') return true;
  return type.k !== undefined && Object.values(type.k).some(hasBlobs);
}

/** The encoded value with every Blob replaced by its base64 contents: plain JSON. */
export async function readBlobs(encoded: EncodedValue): Promise<EncodedValue> {
  if (!hasBlobs(encoded.type)) return encoded;
  return { value: await read(encoded.value, encoded.type!), type: encoded.type };
}

async function read(value: unknown, type: ValueType): Promise<unknown> {
  const tag = typeof type === 'string' ? type : type.t;
  if (tag === 'Blob' || tag === 'File') {
    if (!isBlob(value)) return value;
    return toBase64(new Uint8Array(await value.arrayBuffer()));
  }
  if (typeof type === 'string' || type.k === undefined || value === null || typeof value !== 'object')
    return value;
  const out: Record<string, unknown> | unknown[] = Array.isArray(value)
    ? value.slice()
    : copyRecord(value as Record<string, unknown>);
  for (const key of Object.keys(type.k)) {
    const child = type.k[key]!;
    if (hasBlobs(child) && Object.hasOwn(out, key))
      setOwn(out as Record<string, unknown>, key, await read((out as Record<string, unknown>)[key], child));
  }
  return out;
}

const isBlob = (v: unknown): v is Blob =>
  typeof v === 'object' && v !== null && (kindOf(v) === 'Blob' || kindOf(v) === 'File');

/**
 * The JavaScript value a wire value and its type stand for. Never throws: a part whose value
 * does not fit its tag (a type from a client that wrote something else) stays as it came,
 * plain JSON, and so does any value without a type, whatever it looks like.
 */
export function decodeValue(value: unknown, type: unknown): unknown {
  if (type === undefined || type === null) return value;
  try {
    return decode(value, type as ValueType);
  } catch {
    return value;
  }
}

function decode(value: unknown, type: ValueType): unknown {
  if (typeof type === 'string') return decodeTag(value, type, undefined);
  if (typeof type !== 'object' || type === null) return value;
  let v = value;
  const k = type.k;
  if (k !== undefined && v !== null && typeof v === 'object') {
    const out: Record<string, unknown> | unknown[] = Array.isArray(v)
      ? v.slice()
      : copyRecord(v as Record<string, unknown>);
    for (const key of Object.keys(k)) {
      if (Object.hasOwn(out, key))
        setOwn(out as Record<string, unknown>, key, decode((out as Record<string, unknown>)[key], k[key]!));
    }
    v = out;
  }
  return type.t === undefined ? v : decodeTag(v, type.t, type);
}

function decodeTag(v: unknown, tag: string, node: ValueTypeNode | undefined): unknown {
  if (!isValueTag(tag)) return v;
  switch (tag) {
    case 'Date':
      if (v === null) return new Date(Number.NaN);
      return typeof v === 'string' ? new Date(v) : v;
    case 'BigInt':
      return typeof v === 'string' && /^-?\d{1,10000}$/.test(v) ? BigInt(v) : v;
    case 'NaN':
      return v === null ? Number.NaN : v;
    case 'Infinity':
      return v === null ? Number.POSITIVE_INFINITY : v;
    case '-Infinity':
      return v === null ? Number.NEGATIVE_INFINITY : v;
    case '-0':
      return v === 0 ? -0 : v;
    case 'undefined':
      return v === null ? undefined : v;
    case 'Map':
      return Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2)
        ? new Map(v as Array<[unknown, unknown]>)
        : v;
    case 'Set':
      return Array.isArray(v) ? new Set(v) : v;
  }
  if (typeof v !== 'string') return v;
  const bytes = fromBase64(v);
  if (bytes === null) return v;
  if (tag === 'ArrayBuffer') return bytes.buffer;
  if (tag === 'DataView') return new DataView(bytes.buffer);
  if (tag === 'Blob' || tag === 'File') {
    const options = { type: node?.mime ?? '' };
    if (tag === 'File' && typeof File === 'function')
      return new File([bytes], node?.name ?? '', { ...options, lastModified: node?.lastModified });
    return new Blob([bytes], options);
  }
  const Ctor = (globalThis as Record<string, unknown>)[tag] as
    | (new (
        buffer: ArrayBuffer,
      ) => ArrayBufferView)
    | undefined;
  const size = (Ctor as { BYTES_PER_ELEMENT?: number } | undefined)?.BYTES_PER_ELEMENT;
  if (Ctor === undefined || size === undefined || bytes.byteLength % size !== 0) return v;
  return new Ctor(bytes.buffer);
}

/**
 * Base64 (RFC 4648, padded) without Buffer: the same code in browsers and Node. Native
 * `Uint8Array#toBase64` where the runtime has it; else btoa over 8 KiB slices (String.fromCharCode
 * with `apply`: about 2 ms for 256 KiB in Node 20, where spreading bigger slices took 14 ms).
 */
function toBase64(bytes: Uint8Array): string {
  const native = (bytes as Uint8Array & { toBase64?: () => string }).toBase64;
  if (typeof native === 'function') return native.call(bytes);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x2000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x2000) as unknown as number[]);
  }
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes of a padded base64 string, or null when it is not one. The buffer is the bytes' own. */
function fromBase64(s: string): Uint8Array<ArrayBuffer> | null {
  if (!BASE64.test(s)) return null;
  const binary = atob(s);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
