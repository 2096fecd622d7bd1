import type { Db } from '../db/sql.js';
import { migrate } from './migrate.js';
import { createSyncStore, type SyncStore } from './sync-store.js';

export interface OpenOptions {
  /** PostgreSQL URL; undefined: embedded PGlite. */
  databaseUrl?: string | undefined;
  /** PGlite directory; undefined: in memory. */
  dataDir?: string | undefined;
  /** PostgreSQL schema (tests isolate themselves in one). */
  schema?: string;
  /** The byte budget of a page (PAGE_MAX_BYTES); undefined: 4 MiB. */
  pageMaxBytes?: number | undefined;
}

/**
 * Each driver is imported only when chosen: a server on PostgreSQL never loads PGlite (its
 * WASM runtime and file-system bundle; docs/benchmarks.md, "Footprint").
 */
export async function openDb(opts: OpenOptions): Promise<Db> {
  if (opts.databaseUrl) {
    const { postgresDb } = await import('../db/postgres.js');
    return postgresDb(opts.databaseUrl, opts.schema ? { schema: opts.schema } : {});
  }
  const { pgliteDb } = await import('../db/pglite.js');
  return pgliteDb(opts.dataDir);
}

/** Opens the database, applies pending migrations, and returns the store. */
export async function openStore(opts: OpenOptions): Promise<SyncStore> {
  return (await openStoreOnDb(opts)).store;
}

/**
 * `openStore`, and the database the store runs on: for the start-up's own checks before
 * serving (server.ts: row-level security, the takeover) and for tests and benchmarks that
 * prepare rows directly. The store itself has no handle on it: no transport gets one.
 */
export async function openStoreOnDb(opts: OpenOptions): Promise<{ store: SyncStore; db: Db }> {
  const db = await openDb(opts);
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  const store = createSyncStore(
    db,
    opts.pageMaxBytes === undefined ? {} : { pageMaxBytes: opts.pageMaxBytes },
  );
  return { store, db };
}
