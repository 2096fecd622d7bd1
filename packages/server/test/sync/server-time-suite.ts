import type { PushResponse, ServerChange } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.js';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const EPOCH = '1970-01-01T00:00:00.000000Z';

/**
 * Fields whose time the server chose (DESIGN.md section 4): clamped for clock skew, or sent
 * without one (`data` with no record time, a delete without `deletedAt`). The writer does not
 * hold that time, so the echo rule sends the field back to it; and a push retried after a lost
 * answer changes nothing, though the server's "now" has moved on.
 */
export function serverTimeSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`server-chosen times on ${name}`, () => {
    let db: TestDatabase;
    let s: TestServer;
    beforeAll(async () => {
      db = await makeDb();
      s = await startTestServer(db);
    });
    afterAll(async () => {
      await s?.close();
      await db?.drop();
    });

    const push = async (user: string, clientId: string, changes: unknown[]) => {
      const res = await s.push(user, 'todo', { clientId, since: EPOCH, changes });
      expect(res.status).toBe(200);
      return (await res.json()) as PushResponse;
    };
    const pullAs = async (user: string, clientId: string) => {
      const res = await s.pull(
        user,
        'todo',
        { collection: 'todos', since: EPOCH },
        { 'X-Client-Id': clientId },
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as { serverChanges: ServerChange[] }).serverChanges;
    };
    const logRows = async (user: string) => {
      const [r] = await s.server
        .db!.forUser(user)
        .query<{ n: number }>(sql`SELECT count(*)::int AS n FROM sync_changes WHERE user_id = ${user}`);
      return r!.n;
    };

    it('a clamped time goes back to the device that wrote it: in its push answer and its pulls', async () => {
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const before = new Date().toISOString();
      const answer = await push('st-clamp', 'A', [
        {
          table: 'todos',
          id: 'r',
          op: 'update',
          fields: { title: { value: 'x', updatedAt: future }, done: { value: false, updatedAt: before } },
        },
      ]);
      const mine = answer.serverChanges.find((c) => c.id === 'r');
      // Only the clamped field: `done` carries the writer's own time, which it holds.
      expect(Object.keys(mine?.fields ?? {})).toEqual(['title']);
      expect(mine!.fields.title!.value).toBe('x');
      expect(mine!.fields.title!.updatedAt < future).toBe(true);
      expect(mine!.fields.title!.updatedAt >= before.slice(0, 19)).toBe(true);
      const pulled = (await pullAs('st-clamp', 'A')).find((c) => c.id === 'r');
      expect(pulled?.fields.title?.updatedAt).toBe(mine!.fields.title!.updatedAt);
      // The device's honest edit a moment later wins, as the clamp intends.
      await new Promise((r) => setTimeout(r, 5));
      await push('st-clamp', 'A', [
        {
          table: 'todos',
          id: 'r',
          op: 'update',
          fields: { title: { value: 'y', updatedAt: new Date().toISOString() } },
        },
      ]);
      expect((await pullAs('st-clamp', 'B')).find((c) => c.id === 'r')?.fields.title?.value).toBe('y');
    });

    it('an insert carrying only data, retried after another device edited the record, changes nothing', async () => {
      const insert = { table: 'todos', id: 'd', op: 'insert', data: { title: 'from A', done: false } };
      await push('st-data', 'A', [insert]);
      const logged = await logRows('st-data');
      // Retried as is (its answer was lost): no new log row, nothing moves.
      const again = await push('st-data', 'A', [insert]);
      expect(again.conflicts).toEqual([]);
      expect(await logRows('st-data')).toBe(logged);
      // B edits; A's insert arrives once more: B's edit stays.
      await new Promise((r) => setTimeout(r, 5));
      await push('st-data', 'B', [
        {
          table: 'todos',
          id: 'd',
          op: 'update',
          fields: { title: { value: 'edited by B', updatedAt: new Date().toISOString() } },
        },
      ]);
      const third = await push('st-data', 'A', [insert]);
      expect(third.conflicts).toEqual([]);
      expect((await pullAs('st-data', 'C')).find((c) => c.id === 'd')?.fields.title?.value).toBe(
        'edited by B',
      );
      expect(await logRows('st-data')).toBe(logged + 1);
      // Its writer gets the time the server gave its fields.
      const toA = (await pullAs('st-data', 'A')).find((c) => c.id === 'd');
      expect(Object.keys(toA?.fields ?? {}).sort()).toEqual(['done', 'title']);
    });

    it('a delete without deletedAt, retried, keeps the first delete and writes no log row', async () => {
      await push('st-del', 'A', [
        {
          table: 'todos',
          id: 'x',
          op: 'insert',
          fields: { title: { value: 't', updatedAt: new Date().toISOString() } },
        },
      ]);
      await push('st-del', 'A', [{ table: 'todos', id: 'x', op: 'delete' }]);
      const first = (await pullAs('st-del', 'B')).find((c) => c.id === 'x');
      expect(first?.op).toBe('delete');
      const logged = await logRows('st-del');
      await new Promise((r) => setTimeout(r, 5));
      const again = await push('st-del', 'A', [{ table: 'todos', id: 'x', op: 'delete' }]);
      expect(again.conflicts).toEqual([]);
      expect(await logRows('st-del')).toBe(logged);
      expect((await pullAs('st-del', 'B')).find((c) => c.id === 'x')?.deletedAt).toBe(first?.deletedAt);
      // The device that deleted learns the time the server gave its delete.
      expect((await pullAs('st-del', 'A')).find((c) => c.id === 'x')?.fields.deletedAt?.updatedAt).toBe(
        first?.fields.deletedAt?.updatedAt,
      );
    });

    it('an update carrying only data still writes a changed value', async () => {
      await push('st-upd', 'A', [{ table: 'todos', id: 'u', op: 'insert', data: { title: 'one' } }]);
      await new Promise((r) => setTimeout(r, 5));
      await push('st-upd', 'A', [{ table: 'todos', id: 'u', op: 'update', data: { title: 'two' } }]);
      expect((await pullAs('st-upd', 'B')).find((c) => c.id === 'u')?.fields.title?.value).toBe('two');
    });
  });
}
