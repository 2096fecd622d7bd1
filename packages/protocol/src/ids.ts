import { z } from 'zod';
import { LIMITS } from './constants.js';

/**
 * Identifiers: bounded length, a safe character set (no spaces, slashes, control
 * characters or quotes), so they are safe in URLs, logs, metric-free labels and SQL text
 * columns alike.
 */

/** The patterns, shared with the hand-written checks on the hot path (push-check.ts). */
export const ID_PATTERN = {
  appId: /^[A-Za-z0-9][A-Za-z0-9_-]*$/,
  table: /^[A-Za-z_][A-Za-z0-9_.-]*$/,
  /** Record ids and client ids. */
  id: /^[A-Za-z0-9_.:@+=~-]+$/,
  field: /^[A-Za-z_$][A-Za-z0-9_$.-]*$/,
} as const;

/** Names that would reach Object.prototype if used as plain-object keys. */
export const FORBIDDEN_FIELD_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const appIdSchema = z
  .string()
  .regex(ID_PATTERN.appId, 'letters, digits, "_" and "-", starting with a letter or digit')
  .max(LIMITS.maxAppIdLength);

/** What appIdSchema accepts, without zod's cost (every request checks one); zod names the problem. */
export function isAppId(s: unknown): s is string {
  return typeof s === 'string' && s.length <= LIMITS.maxAppIdLength && ID_PATTERN.appId.test(s);
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
  .regex(ID_PATTERN.field, 'letters, digits, "_", "$", "." and "-", not starting with a digit')
  .max(LIMITS.maxFieldNameLength)
  .refine((name) => !FORBIDDEN_FIELD_NAMES.has(name), 'reserved field name');
