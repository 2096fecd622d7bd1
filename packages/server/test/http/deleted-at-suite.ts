import type { ServerChange } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const AT = '2024-03-01T10:00:00.000Z';

/**
 * `deletedAt` is a timestamp or null wherever a push carries it (top-level, as a field, in
 * `data`), on both push paths (Content-Length: node:http; chunked: Hono). Finding 10 of issue
 * 20: `{}` deleted a record and came back as "[object Object]", "not-a-date" was stored, `0`
 * deleted while `false` did not.
 */
export function deletedAtSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`deletedAt values on ${name}`, () => {
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

    async function push(userId: string, changes: unknown[], chunked: boolean) {
      const text = JSON.stringify({ clientId: 'c1', changes });
      if (!chunked) return s.push(userId, 'todo', text);
      return s.request(userId, '/sync/todo', {
        method: 'POST',
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(text));
            controller.close();
          },
        }),
        headers: { 'content-type': 'application/json' },
        duplex: 'half',
      } as RequestInit);
    }
    async function records(userId: string): Promise<ServerChange[]> {
      const res = await s.pull(userId, 'todo', { collection: 'todos' });
      expect(res.status).toBe(200);
      return ((await res.json()) as { serverChanges: ServerChange[] }).serverChanges;
    }

    const places = {
      'top-level': (v: unknown) => ({ table: 'todos', id: 'r1', op: 'delete', deletedAt: v }),
      field: (v: unknown) => ({
        table: 'todos',
        id: 'r1',
        op: 'update',
        fields: { deletedAt: { value: v, updatedAt: '2024-03-02T10:00:00.000Z' } },
      }),
      data: (v: unknown) => ({ table: 'todos', id: 'r1', op: 'insert', data: { title: 'x', deletedAt: v } }),
    };
    const paths = {
      'top-level': 'changes.0.deletedAt',
      field: 'changes.0.fields.deletedAt.value',
      data: 'changes.0.data.deletedAt',
    };

    let n = 0;
    for (const chunked of [false, true]) {
      for (const [place, change] of Object.entries(places) as Array<
        [keyof typeof places, (v: unknown) => unknown]
      >) {
        it(`refuses ${place} deletedAt {} / "not-a-date" / 0 / false with 400 naming it (${chunked ? 'chunked' : 'Content-Length'})`, async () => {
          const user = `del-${++n}`;
          const created = await push(
            user,
            [{ table: 'todos', id: 'r1', op: 'update', fields: { title: { value: 'keep', updatedAt: AT } } }],
            chunked,
          );
          expect(created.status).toBe(200);
          for (const bad of [{}, 'not-a-date', 0, false]) {
            const res = await push(user, [change(bad)], chunked);
            expect(res.status, `${JSON.stringify(bad)}: ${await res.clone().text()}`).toBe(400);
            const { error } = (await res.json()) as { error: { code: string; path?: string } };
            expect(error.code).toBe('INVALID_REQUEST');
            expect(error.path).toBe(paths[place]);
          }
          // Nothing was written: the record is as it was, not deleted.
          const [r] = await records(user);
          expect(r?.op).toBe('update');
          expect(Object.keys(r?.fields ?? {})).toEqual(['title']);
        });
      }
    }

    it('takes a timestamp as a deletedAt field (deleted at it) and null (restored)', async () => {
      const user = 'del-ok';
      const del = await push(user, [places.field('2024-03-02T10:00:00.000Z')], false);
      expect(del.status).toBe(200);
      let [r] = await records(user);
      expect(r?.op).toBe('delete');
      expect(r?.deletedAt).toBe('2024-03-02T10:00:00.000Z');
      const restore = await push(
        user,
        [
          {
            table: 'todos',
            id: 'r1',
            op: 'update',
            fields: { deletedAt: { value: null, updatedAt: '2024-03-03T10:00:00.000Z' } },
          },
        ],
        true,
      );
      expect(restore.status).toBe(200);
      [r] = await records(user);
      expect(r?.op).toBe('update');
      expect(r?.fields.deletedAt?.value).toBeNull();
    });
  });
}
