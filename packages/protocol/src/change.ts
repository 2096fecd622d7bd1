import { z } from 'zod';
import { DELETED_AT_FIELD, LIMITS } from './constants.js';
import { canonicalize, parseMicros } from './cursor.js';
import { fieldNameSchema, recordIdSchema, tableNameSchema } from './ids.js';
import { jsonValueProblem } from './json-value.js';
import { valueTypeSchema } from './value-types.js';

/** An ISO-8601 date-time as a client may send it; normalized with `canonicalize`. */
export const timestampSchema = z
  .string()
  .max(64)
  .refine((s) => canonicalize(s) !== null, 'an ISO-8601 date-time such as 2024-01-01T10:05:00.000Z');

/**
 * What the `deletedAt` field may hold (`fields.deletedAt.value`, `data.deletedAt`): a timestamp,
 * as `timestampSchema` accepts it, or null (not deleted). Why: the server and every client
 * decide "deleted" from this field; `{}`, `0` or `"not-a-date"` would mean deleted to one
 * and not to another, and come back as text no client can order.
 */
export function isDeletedAtValue(v: unknown): boolean {
  return v === null || (typeof v === 'string' && v.length <= 64 && parseMicros(v) !== null);
}
const DELETED_AT_MESSAGE = 'deletedAt: an ISO-8601 date-time such as 2024-01-01T10:05:00.000Z, or null';

/** A JSON value that PostgreSQL's jsonb accepts (see json-value.ts). */
export const jsonValueSchema = z.unknown().superRefine((value, ctx) => {
  const problem = value === undefined ? 'a value is required' : jsonValueProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * One field of a record: its value, when the client set it, and, for a value JSON cannot hold
 * (a Date, a Map, bytes…), its type beside it (value-types.ts). The server stores the type and
 * sends it back with the value; a write without one clears it.
 */
export const fieldSchema = z.object({
  value: jsonValueSchema,
  updatedAt: timestampSchema,
  type: valueTypeSchema.optional(),
});
export type Field = z.infer<typeof fieldSchema>;

/**
 * A record keyed by field names. zod silently drops a `__proto__` key (it cannot be
 * assigned to a plain object), so it is refused here explicitly, before the record parse.
 * A refused key's message names the key and the rule (zod's own says "Invalid key in record").
 */
function fieldRecord<T extends z.ZodType>(value: T) {
  return z
    .unknown()
    .superRefine((v, ctx) => {
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__')) {
        ctx.addIssue({
          code: 'custom',
          message: fieldNameMessage(
            '__proto__',
            'reserved (__proto__, constructor and prototype are refused)',
          ),
          path: ['__proto__'],
        });
      }
    })
    .pipe(
      z.record(fieldNameSchema, value, {
        error: (issue) =>
          issue.code === 'invalid_key'
            ? fieldNameMessage(String(issue.input), issue.issues[0]?.message ?? 'not allowed')
            : undefined,
      }),
    );
}

/** `field name "1f": <the rule>`, the name cut short (a hostile key cannot make the message large). */
function fieldNameMessage(name: string, rule: string): string {
  const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
  return `field name ${JSON.stringify(shown)}: ${rule}`;
}

export const fieldsSchema = fieldRecord(fieldSchema);
export type Fields = z.infer<typeof fieldsSchema>;

export const opSchema = z.enum(['insert', 'update', 'delete']);
export type Op = z.infer<typeof opSchema>;

/**
 * Who wrote a change (the user, an AI agent, the system): an opaque JSON object the server
 * stores with every field the change wrote and sends back with them, so other devices can
 * attribute it. At most `LIMITS.maxActorLength` characters of JSON.
 */
export const actorSchema = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const problem = actorProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
export type Actor = Record<string, unknown>;

/** Why a value cannot be an actor, or null. */
export function actorProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'an object';
  const problem = jsonValueProblem(value);
  if (problem) return problem;
  if (JSON.stringify(value).length > LIMITS.maxActorLength)
    return `at most ${LIMITS.maxActorLength} characters of JSON`;
  return null;
}

/**
 * The version of the change format a client writes (absent: 1). Accepted up to
 * `SUPPORTED_SCHEMA_VERSION`; the push refuses newer ones with SCHEMA_VERSION_UNSUPPORTED.
 */
export const schemaVersionSchema = z.number().int().min(1).max(1_000_000);

/**
 * A change to one record, as a client pushes it.
 * `fields` carry their own timestamps; `data` values without one take the change's newest
 * field timestamp (or the server time). A `delete` sets the `deletedAt` field under LWW.
 */
export const changeSchema = z
  .object({
    table: tableNameSchema,
    id: recordIdSchema,
    op: opSchema,
    fields: fieldsSchema.optional(),
    data: fieldRecord(jsonValueSchema).optional(),
    deletedAt: timestampSchema.nullable().optional(),
    schemaVersion: schemaVersionSchema.optional(),
    actor: actorSchema.nullable().optional(),
  })
  .superRefine((c, ctx) => {
    const field = c.fields?.[DELETED_AT_FIELD];
    if (field && !isDeletedAtValue(field.value))
      ctx.addIssue({
        code: 'custom',
        message: DELETED_AT_MESSAGE,
        path: ['fields', DELETED_AT_FIELD, 'value'],
      });
    if (c.data && Object.hasOwn(c.data, DELETED_AT_FIELD) && !isDeletedAtValue(c.data[DELETED_AT_FIELD]))
      ctx.addIssue({ code: 'custom', message: DELETED_AT_MESSAGE, path: ['data', DELETED_AT_FIELD] });
  });
export type Change = z.infer<typeof changeSchema>;

/** One field of a server change: its value, its LWW timestamp, and who wrote it (when known). */
export const serverFieldSchema = z.object({
  value: z.unknown(),
  /** ISO-8601 UTC: milliseconds when the microseconds are zero, else six fractional digits. */
  updatedAt: z.string(),
  /** How the value encodes a value JSON cannot hold, as its writer sent it (value-types.ts). */
  type: valueTypeSchema.optional(),
  actor: z.record(z.string(), z.unknown()).optional(),
});
export type ServerField = z.infer<typeof serverFieldSchema>;

/**
 * A record as the server sends it back: `op: "update"` with the fields the caller does not
 * hold already (every field but those whose stored value and timestamp the caller itself
 * wrote), or `op: "delete"` with `deletedAt` for a deleted record. Never an `insert`: the
 * fields may be a part of the record, and an insert means the whole record to some clients.
 * Apply field by field under LWW; a record missing locally is created from its fields.
 */
export const serverChangeSchema = z.object({
  table: tableNameSchema,
  id: recordIdSchema,
  op: z.enum(['update', 'delete']),
  fields: z.record(z.string(), serverFieldSchema),
  /** Set (a timestamp) only when the record is deleted; never null. */
  deletedAt: z.string().optional(),
  /** The record's cursor position. */
  updatedAt: z.string(),
  /** The id of the log row of the record's latest accepted change: a key for de-duplication. */
  eventId: z.string(),
  /** The actor of the newest field sent, when it has one. */
  actor: z.record(z.string(), z.unknown()).optional(),
});
export type ServerChange = z.infer<typeof serverChangeSchema>;
