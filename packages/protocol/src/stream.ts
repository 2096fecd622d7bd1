import { z } from 'zod';
import { serverChangeSchema, timestampSchema } from './change.js';
import { LIMITS } from './constants.js';
import { tableNameSchema } from './ids.js';
import { pullQuerySchema } from './pull.js';

/**
 * `GET /sync/{appId}/stream?collections=a,b&since=&limit=`: Server-Sent Events, the Mana web
 * app's live channel for the apps it opens lazily. First a catch-up of every collection from
 * `since`, then a page whenever another device of the user pushes to one of them.
 */
export const streamQuerySchema = z.object({
  /** Comma-separated table names, at most LIMITS.maxStreamCollections. */
  collections: z
    .string()
    .min(1, 'at least one table name')
    .max(LIMITS.maxStreamCollections * (LIMITS.maxTableLength + 1))
    .transform((s) => s.split(','))
    .pipe(z.array(tableNameSchema).max(LIMITS.maxStreamCollections)),
  since: timestampSchema.optional(),
  /** Records per page, as for a pull. */
  limit: pullQuerySchema.shape.limit,
});
export type StreamQuery = z.infer<typeof streamQuerySchema>;

/** The `event:` names of the stream's blocks. */
export const SSE_EVENT = {
  /** `data` is a `streamChangesSchema` object on one line. */
  changes: 'changes',
  /** `data: {}`; sent every SSE_HEARTBEAT_MS so proxies keep the connection and clients see it alive. */
  heartbeat: 'heartbeat',
} as const;

/**
 * The data of an `event: changes` block: one page of one table, exactly as a pull of that
 * table from its cursor would answer. `syncedUntil` is safe as that table's next cursor.
 */
export const streamChangesSchema = z.object({
  table: tableNameSchema,
  changes: z.array(serverChangeSchema),
  syncedUntil: z.string(),
  hasMore: z.boolean(),
});
export type StreamChanges = z.infer<typeof streamChangesSchema>;
