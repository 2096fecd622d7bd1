import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { Db } from '../../src/db/sql.js';
import { type OpenOptions, openStoreOnDb } from '../../src/store/open.js';
import type { SyncStore } from '../../src/store/sync-store.js';

/** Real PostgreSQL for `*.pg.test.ts`; those suites are skipped when it is unset. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

export interface TestDatabase {
  kind: 'pglite' | 'postgres';
  /** Options for openStore / startServer that point at this database. */
  options: { databaseUrl?: string; schema?: string; dataDir?: string };
  drop(): Promise<void>;
}

/**
 * The role the servers under test run as: no superuser, no BYPASSRLS, so row-level security
 * binds them as it binds production's `mana` (TEST_DATABASE_URL logs in as a superuser, which
 * would skip it). It owns each test's schema (or database), so it migrates and analyzes its
 * tables like an owner does.
 */
export const TEST_ROLE = 'mana_sync_test';

/**
 * `url` switched to TEST_ROLE: the `role` startup parameter is a SET ROLE for the whole
 * session, whatever the login user and its authentication (postgres.js passes unknown URL
 * parameters on at connect), so child processes given this URL run as the role too.
 */
export function asTestRole(url: string): string {
  const u = new URL(url);
  u.searchParams.set('role', TEST_ROLE);
  return u.toString();
}

/**
 * Creates TEST_ROLE if missing. Test files run in parallel: two may create it at once, and the
 * loser's duplicate is fine.
 */
export async function ensureTestRole(admin: postgres.Sql): Promise<void> {
  await admin.unsafe(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${TEST_ROLE}') THEN
        CREATE ROLE ${TEST_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$`);
}

/** A fresh PostgreSQL schema, so test files run in parallel on one database without seeing each other. */
export async function freshPgSchema(): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await ensureTestRole(admin);
  await admin.unsafe(`CREATE SCHEMA ${schema} AUTHORIZATION ${TEST_ROLE}`);
  await admin.end();
  return {
    kind: 'postgres',
    options: { databaseUrl: asTestRole(TEST_DATABASE_URL), schema },
    async drop() {
      const a = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await a.end();
    },
  };
}

export async function memoryPglite(): Promise<TestDatabase> {
  return { kind: 'pglite', options: {}, drop: async () => {} };
}

/** PGlite in a temporary directory: what a test prepares there outlives a server's restart. */
export async function diskPglite(): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mana-sync-pglite-'));
  return {
    kind: 'pglite',
    options: { dataDir },
    drop: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** A store, and the database under it: tests prepare and inspect rows with `db` directly. */
export type TestStore = SyncStore & { readonly db: Db };

export async function openTestStore(db: TestDatabase): Promise<TestStore> {
  return openTestStoreAt(db.options);
}

/** `openTestStore` on explicit open options (a data directory a test prepared). */
export async function openTestStoreAt(options: OpenOptions): Promise<TestStore> {
  const opened = await openStoreOnDb(options);
  return Object.assign(opened.store, { db: opened.db });
}
