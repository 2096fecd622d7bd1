import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { EPOCH } from '@mana/sync-protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { rowSecurityBypass } from '../../src/db/row-security.js';
import { sql } from '../../src/db/sql.js';
import { listMigrations } from '../../src/store/migrate.js';
import { openTestStoreAt } from '../helpers/databases.js';

/**
 * An embedded data directory written by a version before row-level security: its tables were
 * created by PGlite's superuser `postgres`, and its sync_changes carries the Go service's
 * policy (as a database the Go service created does). This version takes it over: the tables
 * pass to the serving role, the policies are replaced, and its data is served under them.
 */
describe('row-level security on a PGlite data directory from an older version', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mana-sync-rls-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves the old data as the non-superuser role, each user seeing only their own', async () => {
    const old = await PGlite.create(dataDir);
    await old.exec(`CREATE TABLE mana_sync_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    for (const m of listMigrations().filter((m) => m.version <= 5)) {
      await old.exec(m.script);
      await old.query('INSERT INTO mana_sync_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
    }
    // The Go service's policy (its migration), and a record of alice's.
    await old.exec(`
      ALTER TABLE sync_changes ENABLE ROW LEVEL SECURITY;
      ALTER TABLE sync_changes FORCE ROW LEVEL SECURITY;
      CREATE POLICY sync_changes_user_isolation ON sync_changes
        USING (user_id = current_setting('app.current_user_id', true))
        WITH CHECK (user_id = current_setting('app.current_user_id', true));
      INSERT INTO sync_users VALUES ('alice', '2026-01-01T00:00:00Z');
      INSERT INTO sync_records VALUES ('alice', 'todo', 'todos', 't1', '{"title": "old"}',
        '{"title": "2026-01-01T00:00:00.000000Z"}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'c1');
      INSERT INTO sync_changes (app_id, table_name, record_id, user_id, op, data, client_id)
        VALUES ('todo', 'todos', 't1', 'alice', 'insert', '{"title": "old"}', 'c1');`);
    await old.close();

    for (let start = 0; start < 2; start++) {
      const store = await openTestStoreAt({ dataDir });
      try {
        expect(await rowSecurityBypass(store.db)).toBeUndefined();
        const pulled = await store.pull({
          userId: 'alice',
          appId: 'todo',
          table: 'todos',
          since: EPOCH,
          limit: 10,
        });
        expect(pulled.serverChanges.map((c) => [c.id, c.fields.title?.value])).toEqual([['t1', 'old']]);
        const everything = sql`SELECT user_id FROM sync_changes UNION ALL SELECT user_id FROM sync_records`;
        expect(await store.db.forUser('bob').query(everything)).toEqual([]);
        expect(await store.db.query(everything)).toEqual([]);
        expect(await store.db.forUser('alice').query(everything)).toHaveLength(2);
        const policies = await store.db.query<{ policyname: string }>(
          sql`SELECT policyname FROM pg_policies WHERE tablename = 'sync_changes' ORDER BY policyname`,
        );
        expect(policies.map((p) => p.policyname)).toEqual([
          'sync_changes_maintenance',
          'sync_changes_user_isolation',
        ]);
      } finally {
        await store.close();
      }
    }
  });
});
