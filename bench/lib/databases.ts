import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { pgliteDb } from '../../packages/server/src/db/pglite.js';
import type { Db } from '../../packages/server/src/db/sql.js';
import { migrate } from '../../packages/server/src/store/migrate.js';
import { openStore } from '../../packages/server/src/store/open.js';

export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

/** A fresh, migrated PostgreSQL schema for one run; `drop()` removes it and everything in it. */
export interface BenchSchema {
  url: string;
  schema: string;
  drop(): Promise<void>;
}

export async function freshSchema(url: string, label: string): Promise<BenchSchema> {
  const schema = `bench_${label}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const store = await openStore({ databaseUrl: url, schema });
  await store.close();
  return {
    url,
    schema,
    async drop() {
      const a = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * The role the row-level security figures serve as: neither superuser nor BYPASSRLS, as in
 * production (the bench's other servers log in as BENCH_DATABASE_URL's user, usually a
 * superuser, which skips the policies).
 */
export const BENCH_ROLE = 'mana_sync_bench';

/**
 * A fresh, migrated schema owned by BENCH_ROLE, and a URL that serves as that role (the `role`
 * startup parameter: a SET ROLE for the session, whatever the login user).
 */
export async function roleSchema(url: string, label: string): Promise<BenchSchema> {
  const schema = `bench_${label}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${BENCH_ROLE}') THEN
          CREATE ROLE ${BENCH_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
    await admin.unsafe(`CREATE SCHEMA ${schema} AUTHORIZATION ${BENCH_ROLE}`);
  } finally {
    await admin.end();
  }
  const asRole = new URL(url);
  asRole.searchParams.set('role', BENCH_ROLE);
  const store = await openStore({ databaseUrl: asRole.toString(), schema });
  await store.close();
  return {
    url: asRole.toString(),
    schema,
    async drop() {
      const a = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * Writes `count` merged records of one user straight into sync_records (seeding is not what
 * is measured): todo-shaped, three timestamped fields, one cursor position each.
 */
export async function seedRecords(
  s: BenchSchema,
  userId: string,
  appId: string,
  count: number,
): Promise<void> {
  const sql = postgres(s.url, { max: 1, onnotice: () => {}, connection: { search_path: s.schema } });
  try {
    await sql`
      INSERT INTO sync_records
        (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
      SELECT ${userId}, ${appId}, 'todos', 'seed-' || i,
             jsonb_build_object('title', 'Task ' || i || ' for the benchmark', 'done', i % 3 = 0, 'priority', i % 5),
             jsonb_build_object('title', ts, 'done', ts, 'priority', ts),
             '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 microsecond',
             '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 microsecond',
             'seed'
      FROM generate_series(1, ${count}::int) AS i,
           LATERAL (SELECT '2025-12-31T00:00:00.000000Z'::text AS ts) AS t`;
    await sql`
      INSERT INTO sync_users (user_id, last_position)
      VALUES (${userId}, '2026-01-01T00:00:00Z'::timestamptz + ${count}::int * interval '1 microsecond')
      ON CONFLICT (user_id) DO NOTHING`;
    await sql`ANALYZE sync_records`;
  } finally {
    await sql.end();
  }
}

/** An in-memory PGlite with the schema applied: the embedded store's raw insert baseline. */
export async function migratedPglite(): Promise<Db> {
  const db = await pgliteDb();
  await migrate(db);
  return db;
}
