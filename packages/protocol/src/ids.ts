import { z } from 'zod';
import { LIMITS } from './constants.js';

/**
 * Identifiers: bounded length, a safe character set (no spaces, slashes, control
 * characters or quotes), so they are safe in URLs, logs, metric-free labels and SQL text
 * columns alike.
 */

/**
 * Each kind of identifier as the characters allowed first and after: one letter-range
 * notation from which both the regex (zod's check, with its message) and the table check of
 * the hot path (push-check.ts, isAppId) are built, so the two cannot disagree.
 */
const CHARS = {
  appId: ['A-Za-z0-9', 'A-Za-z0-9_-'],
  table: ['A-Za-z_', 'A-Za-z0-9_.-'],
  /** Record ids and client ids. */
  id: ['A-Za-z0-9_.:@+=~-', 'A-Za-z0-9_.:@+=~-'],
  field: ['A-Za-z_$', 'A-Za-z0-9_$.-'],
} as const;
type IdKind = keyof typeof CHARS;

const pattern = (kind: IdKind) => {
  const [first, rest] = CHARS[kind];
  return new RegExp(first === rest ? `^[${first}]+$` : `^[${first}][${rest}]*$`);
};

/** `^[first][rest]*$` (`^[chars]+$` when both are the same), as regular expressions. */
export const ID_PATTERN = {
  appId: pattern('appId'),
  table: pattern('table'),
  id: pattern('id'),
  field: pattern('field'),
} as const;

/**
 * The same test as ID_PATTERN[kind], by table lookup. Why: a push checks several identifiers
 * (client id, table, record id, each field name), and a regex test costs about 300
 * instructions a call, a lookup loop a few per character.
 */
export const ID_MATCHES: Record<IdKind, (s: string) => boolean> = {
  appId: matcher('appId'),
  table: matcher('table'),
  id: matcher('id'),
  field: matcher('field'),
};

function matcher(kind: IdKind): (s: string) => boolean {
  const [first, rest] = CHARS[kind].map(asciiTable);
  return (s) => {
    const n = s.length;
    if (n === 0) return false;
    let c = s.charCodeAt(0);
    if (c > 127 || first![c] === 0) return false;
    for (let i = 1; i < n; i++) {
      c = s.charCodeAt(i);
      if (c > 127 || rest![c] === 0) return false;
    }
    return true;
  };
}

/** 1 for each ASCII character a bracket-class body (`A-Za-z_-`: ranges, literals) names. */
function asciiTable(body: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < body.length; i++) {
    const from = body.charCodeAt(i);
    if (body[i + 1] === '-' && i + 2 < body.length) {
      for (let c = from; c <= body.charCodeAt(i + 2); c++) table[c] = 1;
      i += 2;
    } else {
      table[from] = 1;
    }
  }
  return table;
}

/** Names that would reach Object.prototype if used as plain-object keys. */
export const FORBIDDEN_FIELD_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const appIdSchema = z
  .string()
  .regex(ID_PATTERN.appId, 'letters, digits, "_" and "-", starting with a letter or digit')
  .max(LIMITS.maxAppIdLength);

/** What appIdSchema accepts, without zod's cost (every request checks one); zod names the problem. */
export function isAppId(s: unknown): s is string {
  return typeof s === 'string' && s.length <= LIMITS.maxAppIdLength && ID_MATCHES.appId(s);
}

export const tableNameSchema = z
  .string()
  .regex(ID_PATTERN.table, 'letters, digits, "_", "." and "-", starting with a letter or "_"')
  .max(LIMITS.maxTableLength);

export const recordIdSchema = z
  .string()
  .regex(ID_PATTERN.id, 'letters, digits and _ . : @ + = ~ -')
  .max(LIMITS.maxRecordIdLength);

export const clientIdSchema = z
  .string()
  .regex(ID_PATTERN.id, 'letters, digits and _ . : @ + = ~ -')
  .max(LIMITS.maxClientIdLength);

export const fieldNameSchema = z
  .string()
  .regex(ID_PATTERN.field, 'letters, digits, "_", "$", "." and "-", starting with a letter, "_" or "$"')
  .max(LIMITS.maxFieldNameLength, `at most ${LIMITS.maxFieldNameLength} characters`)
  .refine(
    (name) => !FORBIDDEN_FIELD_NAMES.has(name),
    'reserved (__proto__, constructor and prototype are refused)',
  );
