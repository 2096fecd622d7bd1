import type { SyncContext } from './context.js';

/** The (app, tables) a user has data in: what the hub tells a socket to pull after a resync. */
export function userTables(
  ctx: SyncContext,
  userId: string,
): Promise<Array<{ appId: string; tables: string[] }>> {
  return ctx.store.userTables(userId);
}
