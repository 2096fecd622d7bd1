import { Writable } from 'node:stream';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.js';
import { createLogger } from '../../src/logger.js';
import {
  freshPgSchema,
  openTestStoreAt,
  TEST_DATABASE_URL,
  type TestDatabase,
} from '../helpers/databases.js';
import { startTestServer } from '../helpers/test-server.js';

/**
 * Row-level security on PostgreSQL databases this server did not create: one the Go service
 * left (its sync_changes already has the policy migration 0007 writes), and a connection
 * whose role would skip the policies, which the server must point out at start.
 */
describe.skipIf(!TEST_DATABASE_URL)('row-level security on an existing PostgreSQL database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshPgSchema();
  });
  afterAll(() => db?.drop());

  it("takes over the Go service's sync_changes with its policy in place", async () => {
    // As the Go service's migration left it, created by the role that serves (the operator's `mana`).
    const go = postgres(db.options.databaseUrl!, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: db.options.schema! },
    });
    await go.unsafe(`
      CREATE TABLE sync_changes (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(), app_id TEXT NOT NULL, table_name TEXT NOT NULL,
        record_id TEXT NOT NULL, user_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')), data JSONB,
        field_timestamps JSONB DEFAULT '{}', client_id TEXT NOT NULL, created_at TIMESTAMPTZ DEFAULT now());
      ALTER TABLE sync_changes ENABLE ROW LEVEL SECURITY;
      ALTER TABLE sync_changes FORCE ROW LEVEL SECURITY;
      DROP POLICY IF EXISTS sync_changes_user_isolation ON sync_changes;
      CREATE POLICY sync_changes_user_isolation ON sync_changes
        USING (user_id = current_setting('app.current_user_id', true))
        WITH CHECK (user_id = current_setting('app.current_user_id', true));`);
    await go.begin(async (tx) => {
      await tx`SELECT set_config('app.current_user_id', 'alice', true)`;
      await tx`INSERT INTO sync_changes (app_id, table_name, record_id, user_id, op, data, client_id)
               VALUES ('todo', 'todos', 't1', 'alice', 'insert', '{"title": "from go"}', 'web-1')`;
    });
    await go.end();

    const store = await openTestStoreAt(db.options);
    try {
      const policies = await store.db.query<{ tablename: string; policyname: string }>(sql`
        SELECT tablename, policyname FROM pg_policies WHERE schemaname = current_schema()
        ORDER BY tablename, policyname`);
      expect(policies.map((p) => `${p.tablename}.${p.policyname}`)).toEqual([
        'sync_changes.sync_changes_maintenance',
        'sync_changes.sync_changes_user_isolation',
        'sync_records.sync_records_maintenance',
        'sync_records.sync_records_user_isolation',
        'sync_users.sync_users_maintenance',
        'sync_users.sync_users_user_isolation',
      ]);
      const goRows = sql`SELECT user_id, data->>'title' AS title FROM sync_changes`;
      expect(await store.db.forUser('alice').query(goRows)).toEqual([{ user_id: 'alice', title: 'from go' }]);
      expect(await store.db.forUser('bob').query(goRows)).toEqual([]);
      expect(await store.db.maintenance().query(goRows)).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('warns at start when its role would skip row-level security, and only then', async () => {
    const warnings = async (databaseUrl: string) => {
      const lines: string[] = [];
      const stream = new Writable({
        write(chunk, _enc, done) {
          lines.push(...String(chunk).split('\n').filter(Boolean));
          done();
        },
      });
      const server = await startTestServer(
        { ...db, options: { ...db.options, databaseUrl } },
        {},
        { logger: createLogger('warn', { destination: stream }) },
      );
      await server.close();
      return lines
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level === 40 && l.msg.includes('row-level security'));
    };
    // TEST_DATABASE_URL logs in as a superuser; the suites' servers switch to the test role.
    const superuser = await warnings(TEST_DATABASE_URL!);
    expect(superuser).toHaveLength(1);
    expect(superuser[0]!.msg).toMatch(/is a superuser/);
    expect(await warnings(db.options.databaseUrl!)).toEqual([]);
  });
});
