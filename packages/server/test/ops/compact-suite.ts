import { type Change, EPOCH } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.js';
import { type CompactProgress, compactLog } from '../../src/store/compact.js';
import { collectStats } from '../../src/store/stats.js';
import { openTestStore, type TestDatabase, type TestStore } from '../helpers/databases.js';

/** Compaction and stats, run on every store (compact.test.ts, compact.pg.test.ts). */
export function compactSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`compact on ${name}`, () => {
    let db: TestDatabase;
    let store: TestStore;
    beforeAll(async () => {
      db = await makeDb();
      store = await openTestStore(db);
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    const tag = Math.random().toString(36).slice(2, 8);
    const alice = `alice-${tag}`;
    const bob = `bob-${tag}`;
    const put = (id: string, title: string, at: string): Change => ({
      table: 'todos',
      id,
      op: 'insert',
      fields: { title: { value: title, updatedAt: at } },
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
    const pullAll = (userId: string, appId = 'todo') =>
      store.pull({ userId, appId, table: 'todos', since: EPOCH, limit: 10_000 });
    const logRows = async (userId: string) =>
      (
        await store.db
          .forUser(userId)
          .query<{ record_id: string; title: string }>(
            sql`SELECT record_id, data->>'title' AS title FROM sync_changes WHERE user_id = ${userId} ORDER BY record_id, title`,
          )
      ).map((r) => `${r.record_id}:${r.title}`);
    /** Moves a user's current log rows 40 days into the past. */
    const age = (userId: string) =>
      store.db
        .forUser(userId)
        .query(
          sql`UPDATE sync_changes SET created_at = now() - interval '40 days' WHERE user_id = ${userId}`,
        );

    it('drops only log rows older than the cutoff; a pull afterwards returns the same state', async () => {
      await push(
        alice,
        [1, 2, 3, 4, 5].map((i) => put(`a${i}`, `old-${i}`, '2026-01-01T00:00:00Z')),
      );
      await push(bob, [put('b1', 'old-b', '2026-01-01T00:00:00Z')], 'notes');
      await age(alice);
      await age(bob);
      // Newer history: a fresh record, and a later edit of an old one.
      await push(alice, [
        put('a6', 'new-6', '2026-02-01T00:00:00Z'),
        put('a1', 'new-1', '2026-02-01T00:00:00Z'),
      ]);
      const before = { alice: await pullAll(alice), bob: await pullAll(bob, 'notes') };
      expect(before.alice.serverChanges).toHaveLength(6);

      const progress: CompactProgress[] = [];
      const result = await compactLog(store.db, {
        before: new Date(Date.now() - 30 * 86_400_000),
        batchSize: 2, // several batches for alice's 5 old rows
        onProgress: (p) => progress.push(p),
      });
      expect(result.rowsDeleted).toBeGreaterThanOrEqual(6);
      expect(await logRows(alice)).toEqual(['a1:new-1', 'a6:new-6']);
      expect(await logRows(bob)).toEqual([]);
      expect({ alice: await pullAll(alice), bob: await pullAll(bob, 'notes') }).toEqual(before);

      const last = progress.at(-1)!;
      expect(last.usersDone).toBe(last.usersTotal);
      expect(last.rowsDeleted).toBe(result.rowsDeleted);
      for (let i = 1; i < progress.length; i++) {
        expect(progress[i]!.rowsDeleted).toBeGreaterThanOrEqual(progress[i - 1]!.rowsDeleted);
      }

      // Nothing older is left: a second run deletes nothing.
      const again = await compactLog(store.db, { before: new Date(Date.now() - 30 * 86_400_000) });
      expect(again.rowsDeleted).toBe(0);
    });

    it('runs alongside pushes: every push commits and keeps its log rows', async () => {
      const carol = `carol-${tag}`;
      await push(
        carol,
        Array.from({ length: 40 }, (_, i) => put(`c${i}`, 'old', '2026-01-01T00:00:00Z')),
      );
      await age(carol);
      const pushes = Array.from({ length: 10 }, (_, i) =>
        push(carol, [put(`n${i}`, `new-${i}`, '2026-03-01T00:00:00Z')]),
      );
      const [compacted, ...pushed] = await Promise.all([
        compactLog(store.db, { before: new Date(Date.now() - 30 * 86_400_000), batchSize: 3 }),
        ...pushes,
      ]);
      expect(compacted.rowsDeleted).toBeGreaterThanOrEqual(40);
      expect(pushed.every((p) => p.changesAccepted === 1)).toBe(true);
      expect((await logRows(carol)).filter((r) => r.includes(':old'))).toEqual([]);
      expect((await logRows(carol)).filter((r) => r.includes(':new-'))).toHaveLength(10);
      expect((await pullAll(carol)).serverChanges).toHaveLength(50);
    });

    it("keeps the Go service's rows not merged yet, however old (a takeover still needs them)", async () => {
      const fay = `fay-${tag}`;
      await push(fay, [put('f1', 'ours', '2026-01-01T00:00:00Z')]);
      await store.db.forUser(fay).query(sql`
        INSERT INTO sync_changes (app_id, table_name, record_id, user_id, op, data, client_id)
        VALUES ('todo', 'todos', 'f2', ${fay}, 'insert', '{"title": "go"}', 'go-client')`);
      await age(fay);
      const result = await compactLog(store.db, { before: new Date(Date.now() - 30 * 86_400_000) });
      expect(result.rowsDeleted).toBeGreaterThanOrEqual(1);
      expect(await logRows(fay)).toEqual(['f2:go']);
    });

    it('stats counts records, deleted records, log rows and users per app', async () => {
      const dave = `dave-${tag}`;
      const erin = `erin-${tag}`;
      const app = `stats-${tag}`;
      await push(dave, [put('x', '1', '2026-01-01T00:00:00Z'), put('y', '1', '2026-01-01T00:00:00Z')], app);
      await push(dave, [put('x', '2', '2026-01-02T00:00:00Z')], app);
      await push(erin, [put('x', '1', '2026-01-01T00:00:00Z')], app);
      await push(erin, [{ table: 'todos', id: 'x', op: 'delete', deletedAt: '2026-01-03T00:00:00Z' }], app);
      const stats = await collectStats(store.db);
      expect(stats.find((s) => s.appId === app)).toEqual({
        appId: app,
        records: 3,
        deletedRecords: 1,
        changes: 5,
        users: 2,
      });
    });
  });
}
