import { LIMITS } from './constants.js';

/** Any JSON value as it travels on the wire and sits in a `jsonb` column. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Why a field value cannot be stored, or null when it can.
 *
 * PostgreSQL's jsonb refuses strings with NUL (`\u0000`) and unpaired surrogates, and fails
 * on very deep nesting. Catching them here turns what would be a database error into a 400
 * that names the field. Iterative, so a hostile depth cannot overflow our own stack.
 */
export function jsonValueProblem(value: unknown): string | null {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'numbers must be finite';
      continue;
    }
    if (typeof v === 'string') {
      const problem = stringProblem(v);
      if (problem) return problem;
      continue;
    }
    if (typeof v !== 'object') return `unsupported value type ${typeof v}`;
    if (depth >= LIMITS.maxValueDepth) return `nesting deeper than ${LIMITS.maxValueDepth}`;
    if (Array.isArray(v)) {
      for (const item of v) stack.push([item, depth + 1]);
    } else {
      for (const [key, item] of Object.entries(v)) {
        const problem = stringProblem(key);
        if (problem) return `key: ${problem}`;
        stack.push([item, depth + 1]);
      }
    }
  }
  return null;
}

// A lone high surrogate, or a low surrogate with no high one before it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * String#isWellFormed where the runtime has it (Node 20, browsers since 2023): it answers at
 * once for a string V8 stores one byte per character, where the regex scans every one.
 */
const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

export function stringProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'strings must not contain NUL (\\u0000)';
  if (!isWellFormed(s)) return 'strings must be well-formed UTF-16 (unpaired surrogate)';
  return null;
}

/** Deep equality of JSON values; object key order does not matter (jsonb reorders keys). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  return ak.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k], bo[k]));
}
