import { type Change, EPOCH } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowSecurityBypass } from '../../src/db/row-security.js';
import { type Db, sql } from '../../src/db/sql.js';
import { compactLog } from '../../src/store/compact.js';
import { collectStats } from '../../src/store/stats.js';
import { openTestStore, type TestDatabase, type TestStore } from '../helpers/databases.js';
import { startTestServer } from '../helpers/test-server.js';

/**
 * Row-level security on the sync tables (migration 0007), run on PGlite
 * (`row-security.test.ts`) and PostgreSQL (`row-security.pg.test.ts`): a statement that forgets
 * its user_id filter sees and writes only its user's rows, or nothing when no user is set;
 * operator commands read across users through the explicit maintenance bypass only.
 */
export function rowSecuritySuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`row-level security on ${name}`, () => {
    let db: TestDatabase;
    let store: TestStore;
    const tag = Math.random().toString(36).slice(2, 8);
    const alice = `alice-${tag}`;
    const bob = `bob-${tag}`;
    const tables = ['sync_records', 'sync_changes', 'sync_users'] as const;

    const put = (id: string, title: string): Change => ({
      table: 'todos',
      id,
      op: 'update',
      fields: { title: { value: title, updatedAt: '2026-01-01T00:00:00Z' } },
    });
    const push = (userId: string, changes: Change[], appId = 'todo') =>
      store.push({
        userId,
        appId,
        clientId: 'c1',
        since: EPOCH,
        changes,
        nowMicros: Date.now() * 1000,
        maxSkewMicros: 60_000_000,
        limit: 1000,
      });
    /** Every user id a statement with no user_id filter sees in `table`. */
    const usersSeen = async (scoped: Db, table: string) =>
      (await scoped.query<{ user_id: string }>({ text: `SELECT user_id FROM ${table}`, values: [] })).map(
        (r) => r.user_id,
      );

    beforeAll(async () => {
      db = await makeDb();
      store = await openTestStore(db);
      await push(alice, [put('a1', 'alice 1'), put('a2', 'alice 2')]);
      await push(bob, [put('b1', 'bob 1')], 'notes');
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    for (const table of tables) {
      it(`shows a user's statement without a user_id filter only that user's rows of ${table}`, async () => {
        const seen = await usersSeen(store.db.forUser(alice), table);
        expect(seen.length).toBeGreaterThan(0);
        expect(new Set(seen)).toEqual(new Set([alice]));
        expect(new Set(await usersSeen(store.db.forUser(bob), table))).toEqual(new Set([bob]));
      });

      it(`shows a statement with no user set nothing of ${table}`, async () => {
        expect(await usersSeen(store.db, table)).toEqual([]);
        // Not because the table is empty: the maintenance bypass sees both users.
        expect(new Set(await usersSeen(store.db.maintenance(), table))).toEqual(new Set([alice, bob]));
      });
    }

    it("refuses a user's write of another user's row (WITH CHECK), on every table", async () => {
      const as = store.db.forUser(alice);
      const refused = { code: '42501' }; // new row violates row-level security policy
      await expect(
        as.query(sql`
          INSERT INTO sync_records
            (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
          VALUES (${bob}, 'notes', 'todos', 'forged', '{}', '{}', now(), now(), 'c1')`),
      ).rejects.toMatchObject(refused);
      await expect(
        as.query(sql`
          INSERT INTO sync_changes (user_id, app_id, table_name, record_id, op, data, client_id)
          VALUES (${bob}, 'notes', 'todos', 'forged', 'insert', '{}', 'c1')`),
      ).rejects.toMatchObject(refused);
      await expect(
        as.query(sql`INSERT INTO sync_users (user_id, last_position) VALUES (${`carol-${tag}`}, now())`),
      ).rejects.toMatchObject(refused);
      // Moving one's own row to another user is refused too.
      await expect(
        as.query(sql`UPDATE sync_records SET user_id = ${bob} WHERE user_id = ${alice}`),
      ).rejects.toMatchObject(refused);
      // Another user's rows are not there to update or delete.
      expect(
        await as.query(sql`UPDATE sync_records SET data = '{}' WHERE user_id = ${bob} RETURNING 1`),
      ).toEqual([]);
      expect(await as.query(sql`DELETE FROM sync_changes WHERE user_id = ${bob} RETURNING 1`)).toEqual([]);
      const bobs = await store.pull({ userId: bob, appId: 'notes', table: 'todos', since: EPOCH, limit: 10 });
      expect(bobs.serverChanges.map((c) => [c.id, c.fields.title?.value])).toEqual([['b1', 'bob 1']]);
      expect(await usersSeen(store.db.forUser(bob), 'sync_changes')).toHaveLength(1);
    });

    it('refuses to run statements for an empty user id', () => {
      expect(() => store.db.forUser('')).toThrow(/empty user id/);
    });

    it('serves as a role that is neither superuser nor BYPASSRLS', async () => {
      const server = await startTestServer(db);
      try {
        const serving = server.server.db!;
        const [role] = await serving.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
          sql`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`,
        );
        expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
        expect(await rowSecurityBypass(serving)).toBeUndefined();
        // And the tables do bind it: enabled and forced on each.
        const rls = await serving.query<{ relname: string; on: boolean; forced: boolean }>(sql`
          SELECT relname, relrowsecurity AS on, relforcerowsecurity AS forced FROM pg_class
          WHERE oid IN ('sync_records'::regclass, 'sync_changes'::regclass, 'sync_users'::regclass)
          ORDER BY relname`);
        expect(rls).toEqual(tables.toSorted().map((relname) => ({ relname, on: true, forced: true })));
      } finally {
        await server.close();
      }
    });

    it('lets stats and compact read across users through the maintenance bypass', async () => {
      const stats = await collectStats(store.db);
      expect(stats.map((s) => [s.appId, s.records, s.users])).toEqual(
        expect.arrayContaining([
          ['notes', 1, 1],
          ['todo', 2, 1],
        ]),
      );
      await store.db
        .maintenance()
        .query(
          sql`UPDATE sync_changes SET created_at = now() - interval '40 days' WHERE user_id IN (${alice}, ${bob})`,
        );
      const result = await compactLog(store.db, { before: new Date(Date.now() - 30 * 86_400_000) });
      expect(result.users).toBeGreaterThanOrEqual(2);
      expect(result.rowsDeleted).toBeGreaterThanOrEqual(3);
      expect(await usersSeen(store.db.maintenance(), 'sync_changes')).toEqual([]);
    });
  });
}
