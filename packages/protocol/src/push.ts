import { z } from 'zod';
import { changeSchema, schemaVersionSchema, serverChangeSchema, timestampSchema } from './change.js';
import { LIMITS, SUPPORTED_SCHEMA_VERSION } from './constants.js';
import { clientIdSchema, fieldNameSchema, recordIdSchema, tableNameSchema } from './ids.js';
import { valueTypeSchema } from './value-types.js';

/** `POST /sync/{appId}` body. */
export const pushRequestSchema = z.object({
  clientId: clientIdSchema,
  /** The client's cursor for this app: server changes after it come back. Absent: from the start. */
  since: timestampSchema.nullable().optional(),
  changes: z.array(changeSchema).max(LIMITS.maxChangesPerPush),
  /** The change format of the whole changeset (absent: 1); a change may name its own. */
  schemaVersion: schemaVersionSchema.optional(),
});
export type PushRequest = z.infer<typeof pushRequestSchema>;

/** An incoming field that lost to the stored one (it was older, or tied with another value). */
export const conflictSchema = z.object({
  table: tableNameSchema,
  id: recordIdSchema,
  field: fieldNameSchema,
  clientValue: z.unknown(),
  clientUpdatedAt: z.string(),
  /** The types of the two values, when not plain JSON (value-types.ts). */
  clientType: valueTypeSchema.optional(),
  serverValue: z.unknown(),
  serverUpdatedAt: z.string(),
  serverType: valueTypeSchema.optional(),
});
export type Conflict = z.infer<typeof conflictSchema>;

export const pushResponseSchema = z.object({
  serverChanges: z.array(serverChangeSchema),
  conflicts: z.array(conflictSchema),
  /** Cursor to send as `since` next time: the position of the last server change returned. */
  syncedUntil: z.string(),
  /** More server changes wait past `syncedUntil`: pull or push again to get them. */
  hasMore: z.boolean(),
});
export type PushResponse = z.infer<typeof pushResponseSchema>;

/**
 * The path of a `schemaVersion` newer than this server supports (the changeset's, else the
 * first change's), or null. A push that has one is refused whole: its changes may mean
 * something this server would store wrongly.
 */
export function unsupportedSchemaVersion(body: PushRequest): string | null {
  if ((body.schemaVersion ?? 1) > SUPPORTED_SCHEMA_VERSION) return 'schemaVersion';
  const changes = body.changes;
  for (let n = 0; n < changes.length; n++) {
    if ((changes[n]!.schemaVersion ?? 1) > SUPPORTED_SCHEMA_VERSION) return `changes.${n}.schemaVersion`;
  }
  return null;
}
