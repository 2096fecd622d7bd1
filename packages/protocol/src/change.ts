import { z } from 'zod';
import { canonicalize } from './cursor.js';
import { fieldNameSchema, recordIdSchema, tableNameSchema } from './ids.js';
import { jsonValueProblem } from './json-value.js';

/** An ISO-8601 date-time as a client may send it; normalized with `canonicalize`. */
export const timestampSchema = z
  .string()
  .max(64)
  .refine((s) => canonicalize(s) !== null, 'an ISO-8601 date-time such as 2024-01-01T10:05:00.000Z');

/** A JSON value that PostgreSQL's jsonb accepts (see json-value.ts). */
export const jsonValueSchema = z.unknown().superRefine((value, ctx) => {
  const problem = value === undefined ? 'a value is required' : jsonValueProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** One field of a record: its value and when the client set it. */
export const fieldSchema = z.object({
  value: jsonValueSchema,
  updatedAt: timestampSchema,
});
export type Field = z.infer<typeof fieldSchema>;

/**
 * A record keyed by field names. zod silently drops a `__proto__` key (it cannot be
 * assigned to a plain object), so it is refused here explicitly, before the record parse.
 */
function fieldRecord<T extends z.ZodType>(value: T) {
  return z
    .unknown()
    .superRefine((v, ctx) => {
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__')) {
        ctx.addIssue({ code: 'custom', message: 'reserved field name', path: ['__proto__'] });
      }
    })
    .pipe(z.record(fieldNameSchema, value));
}

export const fieldsSchema = fieldRecord(fieldSchema);
export type Fields = z.infer<typeof fieldsSchema>;

export const opSchema = z.enum(['insert', 'update', 'delete']);
export type Op = z.infer<typeof opSchema>;

/**
 * A change to one record, as a client pushes it.
 * `fields` carry their own timestamps; `data` values without one take the change's newest
 * field timestamp (or the server time). A `delete` sets the `deletedAt` field under LWW.
 */
export const changeSchema = z.object({
  table: tableNameSchema,
  id: recordIdSchema,
  op: opSchema,
  fields: fieldsSchema.optional(),
  data: fieldRecord(jsonValueSchema).optional(),
  deletedAt: timestampSchema.nullable().optional(),
});
export type Change = z.infer<typeof changeSchema>;

/**
 * A record as the server sends it back: its merged state, every field with its timestamp.
 * `op` is `delete` when the merged `deletedAt` is set, `insert` when the record was created
 * after the requested cursor, `update` otherwise. Apply idempotently.
 */
export const serverChangeSchema = z.object({
  table: tableNameSchema,
  id: recordIdSchema,
  op: opSchema,
  fields: z.record(z.string(), z.object({ value: z.unknown(), updatedAt: z.string() })),
  deletedAt: z.string().nullable().optional(),
  /** The record's cursor position. */
  updatedAt: z.string(),
});
export type ServerChange = z.infer<typeof serverChangeSchema>;
