import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, sql } from '../../src/db/sql.js';
import { openTestStore, type TestDatabase, type TestStore } from '../helpers/databases.js';

/**
 * The Db transaction contract the push relies on, run on PGlite (`transaction.test.ts`) and
 * PostgreSQL (`transaction.pg.test.ts`): all or nothing, statements sent together run in
 * order, and a failed transaction hands its connection back to the pool.
 */
export function transactionSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`Db transactions on ${name}`, () => {
    let database: TestDatabase;
    let store: TestStore;
    let db: Db;
    let n = 0;
    const user = () => `tx-user-${++n}`;
    const insert = (userId: string, k: string) =>
      sql`INSERT INTO tx_probe (user_id, k) VALUES (${userId}, ${k})`;
    const keys = async (userId: string) =>
      (await db.query<{ k: string }>(sql`SELECT k FROM tx_probe WHERE user_id = ${userId} ORDER BY k`)).map(
        (r) => r.k,
      );

    beforeAll(async () => {
      database = await makeDb();
      store = await openTestStore(database);
      db = store.db;
      await db.exec(
        'CREATE TABLE tx_probe (user_id TEXT NOT NULL, k TEXT NOT NULL, PRIMARY KEY (user_id, k))',
      );
    });
    afterAll(async () => {
      await store?.close();
      await database?.drop();
    });

    it('commits every statement, and statements sent together run in order', async () => {
      const u = user();
      const rows = await db.transaction(async (tx) => {
        await tx.queryAll([insert(u, 'a')]);
        return tx.queryAll([
          insert(u, 'b'),
          sql`SELECT count(*)::int AS n FROM tx_probe WHERE user_id = ${u}`,
        ]);
      });
      expect(rows[1]).toEqual([{ n: 2 }]);
      expect(await keys(u)).toEqual(['a', 'b']);
    });

    it('writes nothing when its last statements fail', async () => {
      const u = user();
      await expect(
        db.transaction(async (tx) => {
          await tx.queryAll([insert(u, 'a')]);
          await tx.queryAll([insert(u, 'b'), insert(u, 'a'), sql`SELECT 1`]);
        }),
      ).rejects.toMatchObject({ code: '23505' });
      expect(await keys(u)).toEqual([]);
    });

    it('writes nothing when the transaction function throws after its statements', async () => {
      const u = user();
      await expect(
        db.transaction(async (tx) => {
          await tx.queryAll([insert(u, 'a'), insert(u, 'b')]);
          throw new Error('merge failed');
        }),
      ).rejects.toThrow('merge failed');
      expect(await keys(u)).toEqual([]);
    });

    it('keeps working after more failed transactions than the pool has connections', async () => {
      const u = user();
      for (let i = 0; i < 25; i++) {
        await expect(
          db.transaction(async (tx) => {
            await tx.queryAll([insert(u, `k${i}`), insert(u, `k${i}`)]);
          }),
        ).rejects.toMatchObject({ code: '23505' });
      }
      await db.transaction((tx) => tx.queryAll([insert(u, 'ok')]));
      expect(await keys(u)).toEqual(['ok']);
    }, 30_000);

    // Db.forUser: what the store runs every statement through (row-level security).
    it("runs a user's statements sent together as one transaction: all or nothing", async () => {
      const u = user();
      await expect(
        db.forUser(u).queryAll([insert(u, 'a'), insert(u, 'b'), insert(u, 'a'), sql`SELECT 1`]),
      ).rejects.toMatchObject({ code: '23505' });
      expect(await keys(u)).toEqual([]);
      const [, count] = await db
        .forUser(u)
        .queryAll([insert(u, 'a'), sql`SELECT count(*)::int AS n FROM tx_probe WHERE user_id = ${u}`]);
      expect(count).toEqual([{ n: 1 }]);
    });

    it("writes nothing of a user's transaction whose function caught a failed statement", async () => {
      const u = user();
      await expect(
        db.forUser(u).transaction(async (tx) => {
          await tx.query(insert(u, 'a'));
          await tx.query(insert(u, 'a')).catch(() => {});
          return 'done';
        }),
      ).rejects.toThrow();
      await expect(
        db.forUser(u).transaction(async (tx) => {
          await tx.queryAll([insert(u, 'b'), insert(u, 'c')]);
          throw new Error('merge failed');
        }),
      ).rejects.toThrow('merge failed');
      expect(await keys(u)).toEqual([]);
      expect(await db.forUser(u).transaction((tx) => tx.query(insert(u, 'd')))).toEqual([]);
      expect(await keys(u)).toEqual(['d']);
    });

    it("leaves no user set on any connection after a user's statements, failed or not", async () => {
      const u = user();
      const setting = sql`SELECT current_setting('app.current_user_id', true) AS v`;
      for (let i = 0; i < 25; i++) {
        expect(await db.forUser(u).query(setting)).toEqual([{ v: u }]);
        await expect(db.forUser(u).queryAll([insert(u, 'k'), insert(u, 'k')])).rejects.toMatchObject({
          code: '23505',
        });
        await db.forUser(u).transaction((tx) => tx.query(setting));
      }
      // Many at once, so the pool hands out each of its connections.
      const seen = await Promise.all(
        Array.from({ length: 30 }, () => db.query<{ v: string | null }>(setting)),
      );
      expect(new Set(seen.map(([r]) => r!.v ?? ''))).toEqual(new Set(['']));
    }, 30_000);
  });
}
