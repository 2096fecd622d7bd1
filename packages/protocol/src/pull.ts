import { z } from 'zod';
import { serverChangeSchema, timestampSchema } from './change.js';
import { LIMITS } from './constants.js';
import { tableNameSchema } from './ids.js';

const LIMIT_RANGE = `a whole number from 1 to ${LIMITS.maxPullLimit}`;

/** `GET /sync/{appId}/pull?collection=&since=&limit=` */
export const pullQuerySchema = z.object({
  collection: tableNameSchema,
  since: timestampSchema.optional(),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, LIMIT_RANGE)
    .transform(Number)
    .pipe(z.number().int().min(1, LIMIT_RANGE).max(LIMITS.maxPullLimit, LIMIT_RANGE))
    .optional(),
});
export type PullQuery = z.infer<typeof pullQuerySchema>;

export const pullResponseSchema = z.object({
  serverChanges: z.array(serverChangeSchema),
  /** Position of the last record returned, or `since` when none: the next `since`. */
  syncedUntil: z.string(),
  hasMore: z.boolean(),
});
export type PullResponse = z.infer<typeof pullResponseSchema>;
