import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { openStore } from '../../src/store/open.js';
import type { SyncStore } from '../../src/store/sync-store.js';

/** Real PostgreSQL for `*.pg.test.ts`; those suites are skipped when it is unset. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

export interface TestDatabase {
  kind: 'pglite' | 'postgres';
  /** Options for openStore / startServer that point at this database. */
  options: { databaseUrl?: string; schema?: string; dataDir?: string };
  drop(): Promise<void>;
}

/** A fresh PostgreSQL schema, so test files run in parallel on one database without seeing each other. */
export async function freshPgSchema(): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return {
    kind: 'postgres',
    options: { databaseUrl: TEST_DATABASE_URL, schema },
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

export async function openTestStore(db: TestDatabase): Promise<SyncStore> {
  return openStore(db.options);
}
