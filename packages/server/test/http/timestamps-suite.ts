import type { ServerChange } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * Timestamps over the whole documented range, 0001-01-01 to 9999-12-31T23:59:59.999999Z, with
 * no microsecond lost (finding 11 of issue 20: past ~2255 the microseconds went, over 2^53;
 * 9999-12-31T23:59:59.999999Z and anything before 1970 were refused). Field times ahead of the
 * server clock are clamped to it, so the far future shows in values that are times
 * (`deletedAt`), the far past in field times too.
 */
export function timestampsSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`timestamps 0001-9999 over HTTP on ${name}`, () => {
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

    async function push(userId: string, changes: unknown[]) {
      const res = await s.push(userId, 'todo', { clientId: 'c1', changes });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    async function pull(userId: string, since?: string): Promise<ServerChange[]> {
      const res = await s.pull(userId, 'todo', { collection: 'todos', ...(since ? { since } : {}) });
      expect(res.status, await res.clone().text()).toBe(200);
      return ((await res.json()) as { serverChanges: ServerChange[] }).serverChanges;
    }
    const deleteAt = (id: string, value: string) => ({
      table: 'todos',
      id,
      op: 'update',
      fields: { deletedAt: { value, updatedAt: '2024-03-01T10:00:00.000Z' } },
    });

    it('sends a far-future deletedAt back exactly, to the last microsecond of 9999', async () => {
      await push('far-future', [
        deleteAt('r9999', '9999-12-31T22:59:59.999999-01:00'),
        deleteAt('r2300', '2300-01-01T01:00:00.000001+01:00'),
      ]);
      const byId = new Map((await pull('far-future')).map((c) => [c.id, c]));
      expect(byId.get('r9999')).toMatchObject({ op: 'delete', deletedAt: '9999-12-31T23:59:59.999999Z' });
      expect(byId.get('r2300')).toMatchObject({ op: 'delete', deletedAt: '2300-01-01T00:00:00.000001Z' });
    });

    it('takes field times and deletes back to year 0001, ordered to the microsecond', async () => {
      await push('far-past', [
        {
          table: 'todos',
          id: 'old',
          op: 'update',
          fields: { title: { value: 'a', updatedAt: '0001-01-01T00:00:00.000001Z' } },
        },
        { table: 'todos', id: 'gone', op: 'delete', deletedAt: '1900-01-01T00:00:00.5Z' },
      ]);
      // One microsecond later wins; the same microsecond with another value does not.
      await push('far-past', [
        {
          table: 'todos',
          id: 'old',
          op: 'update',
          fields: { title: { value: 'b', updatedAt: '0001-01-01T01:00:00.000002+01:00' } },
        },
      ]);
      const res = await s.push('far-past', 'todo', {
        clientId: 'c2',
        changes: [
          {
            table: 'todos',
            id: 'old',
            op: 'update',
            fields: { title: { value: 'c', updatedAt: '0001-01-01T00:00:00.000001Z' } },
          },
        ],
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { conflicts: unknown[] }).conflicts).toHaveLength(1);
      const byId = new Map((await pull('far-past', '0001-01-01T00:00:00Z')).map((c) => [c.id, c]));
      expect(byId.get('old')?.fields.title).toMatchObject({
        value: 'b',
        updatedAt: '0001-01-01T00:00:00.000002Z',
      });
      expect(byId.get('gone')).toMatchObject({ op: 'delete', deletedAt: '1900-01-01T00:00:00.500Z' });
    });

    it('refuses a time outside 0001-9999 with 400 naming it', async () => {
      for (const [at, path] of [
        ['0000-12-31T23:59:59.999999Z', 'changes.0.fields.title.updatedAt'],
        ['9999-12-31T23:30:00-01:00', 'changes.0.fields.title.updatedAt'],
      ] as const) {
        const res = await s.push('out', 'todo', {
          clientId: 'c1',
          changes: [
            { table: 'todos', id: 'r', op: 'update', fields: { title: { value: 'x', updatedAt: at } } },
          ],
        });
        expect(res.status, at).toBe(400);
        expect(((await res.json()) as { error: { path?: string } }).error.path).toBe(path);
      }
    });
  });
}
