import { sql } from '../db/sql.js';

import { type CompactOptions, type CompactResult, compactLog } from './compact.js';
import { migrate } from './migrate.js';
import { type OpenOptions, openDb } from './open.js';
import { type AppStats, collectStats } from './stats.js';
import { type TakeoverOptions, type TakeoverResult, takeOver } from './takeover.js';

/**
 * The store as the operator's commands see it (`mana-sync migrate`, `compact`, `stats`,
 * `takeover`): across users, on a database no server may be running against. Only `migrate`
 * changes the schema: a newer CLI must not change it under an older running server.
 */
/** Thrown by the opener when a running server holds the PGlite data directory (the CLI exits 2). */
export { DataDirBusyError } from '../db/data-dir-lock.js';

export interface MaintenanceStore {
  /** Applies pending migrations; the numbers applied. */
  migrate(): Promise<number[]>;
  /** Whether the Mana Sync tables exist (the other commands need them). */
  hasSchema(): Promise<boolean>;
  /** Whether sync_changes has the `merged` column (migration 0006) the takeover needs. */
  hasMergedColumn(): Promise<boolean>;
  stats(): Promise<AppStats[]>;
  compact(opts: CompactOptions): Promise<CompactResult>;
  takeOver(opts: TakeoverOptions): Promise<TakeoverResult>;
  close(): Promise<void>;
}

export async function openMaintenance(opts: OpenOptions): Promise<MaintenanceStore> {
  const db = await openDb(opts);
  return {
    migrate: () => migrate(db),
    async hasSchema() {
      const [row] = await db.query<{ ok: boolean }>(
        sql`SELECT to_regclass('sync_changes') IS NOT NULL AND to_regclass('sync_records') IS NOT NULL AS ok`,
      );
      return row?.ok === true;
    },
    async hasMergedColumn() {
      const [row] = await db.query<{ ok: boolean }>(
        sql`SELECT EXISTS (SELECT 1 FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = 'sync_changes'
                AND column_name = 'merged') AS ok`,
      );
      return row?.ok === true;
    },
    stats: () => collectStats(db),
    compact: (o) => compactLog(db, o),
    takeOver: (o) => takeOver(db, o),
    close: () => db.close(),
  };
}
