import { type Db, sql } from '../db/sql.js';
import { DEFAULT_PAGE_MAX_BYTES, readPage } from './page.js';
import { pusher } from './push.js';
import { statisticsKeeper } from './statistics.js';
import type { StoreOptions, SyncStore } from './types.js';
import { userTables } from './user-tables.js';

export type {
  PageRead,
  PullInput,
  PullResult,
  PushInput,
  PushResult,
  StoreOptions,
  SyncStore,
} from './types.js';

/**
 * The sync store: push (merge a batch under field-level LWW, atomically: push.ts) and pull
 * (merged records after a cursor: page.ts). All logic is here once; `Db` runs it on
 * PostgreSQL or PGlite. Every statement filters by user_id, the future shard key, and runs
 * through `db.forUser(userId)`: row-level security then hides every other user's rows
 * (db/row-security.ts), should a statement ever forget its filter.
 */

export function createSyncStore(db: Db, options: StoreOptions = {}): SyncStore {
  const statistics = statisticsKeeper(db);
  const push = pusher(db);
  const maxBytes = options.pageMaxBytes ?? DEFAULT_PAGE_MAX_BYTES;
  return {
    kind: db.kind,
    async push(input) {
      const result = await push({ maxBytes, ...input });
      statistics.written(result.recordsWritten);
      return result;
    },
    pull: (input) => readPage(db.forUser(input.userId), { maxBytes, ...input, echo: input.clientId ?? null }),
    userTables: (userId) => userTables(db, userId),
    async ping() {
      await db.query(sql`SELECT 1`);
    },
    async close() {
      await statistics.idle();
      await db.close();
    },
  };
}
