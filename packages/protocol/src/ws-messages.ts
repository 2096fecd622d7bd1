import { z } from 'zod';
import { appIdSchema, clientIdSchema, tableNameSchema } from './ids.js';

/** Client → server, first message on every socket. `clientId` suppresses the echo of own pushes. */
export const wsAuthSchema = z.object({
  type: z.literal('auth'),
  token: z.string().min(1).max(16_384),
  clientId: clientIdSchema.optional(),
});

export const wsPingSchema = z.object({ type: z.literal('ping') });

export const wsClientMessageSchema = z.discriminatedUnion('type', [wsAuthSchema, wsPingSchema]);
export type WsClientMessage = z.infer<typeof wsClientMessageSchema>;

export const wsAuthOkSchema = z.object({ type: z.literal('auth-ok') });
export const wsPongSchema = z.object({ type: z.literal('pong') });

/** Another client of this user pushed: pull these tables of this app. */
export const wsSyncAvailableSchema = z.object({
  type: z.literal('sync-available'),
  appId: appIdSchema,
  tables: z.array(tableNameSchema),
});

export const wsErrorSchema = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
});

export const wsServerMessageSchema = z.discriminatedUnion('type', [
  wsAuthOkSchema,
  wsPongSchema,
  wsSyncAvailableSchema,
  wsErrorSchema,
]);
export type WsServerMessage = z.infer<typeof wsServerMessageSchema>;
