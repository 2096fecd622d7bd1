import { z } from 'zod';
import { LIMITS } from './constants.js';

/**
 * Identifiers: bounded length, a safe character set (no spaces, slashes, control
 * characters or quotes), so they are safe in URLs, logs, metric-free labels and SQL text
 * columns alike.
 */

const APP_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export const appIdSchema = z
  .string()
  .regex(APP_ID, 'letters, digits, "_" and "-", starting with a letter or digit')
  .max(LIMITS.maxAppIdLength);

/** What appIdSchema accepts, without zod's cost (every request checks one); zod names the problem. */
export function isAppId(s: unknown): s is string {
  return typeof s === 'string' && s.length <= LIMITS.maxAppIdLength && APP_ID.test(s);
}

export const tableNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-", starting with a letter or "_"')
  .max(LIMITS.maxTableLength);

export const recordIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:@+=~-]+$/, 'letters, digits and _ . : @ + = ~ -')
  .max(LIMITS.maxRecordIdLength);

export const clientIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:@+=~-]+$/, 'letters, digits and _ . : @ + = ~ -')
  .max(LIMITS.maxClientIdLength);

/** Names that would reach Object.prototype if used as plain-object keys. */
const FORBIDDEN_FIELD_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

export const fieldNameSchema = z
  .string()
  .regex(/^[A-Za-z_$][A-Za-z0-9_$.-]*$/, 'letters, digits, "_", "$", "." and "-", not starting with a digit')
  .max(LIMITS.maxFieldNameLength)
  .refine((name) => !FORBIDDEN_FIELD_NAMES.has(name), 'reserved field name');
