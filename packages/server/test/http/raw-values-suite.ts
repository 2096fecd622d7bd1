import type { ServerChange } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.js';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const AT = '2024-03-01T10:00:00.000Z';
const MIB = 1024 * 1024;

/**
 * A large record's values (over 64 KiB of JSON: raw-change.ts) go out as the database's JSON
 * text, never parsed on the server, in the pull's answer, a push's and the SSE stream's: the
 * client reads back exactly what is stored (unicode, escapes, nested values, numbers, even
 * digits a double cannot hold), with the same echo rule, writers and types as a small record.
 */
export function rawValuesSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`large records' values on ${name}`, () => {
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

    // 2 MiB of text with what JSON escapes (quotes, backslashes, control characters), and
    // unicode in and beyond the BMP; a nested object; and a small field beside them.
    const text = `é "q" \\ \n\t\u0001 😀 ${'ü€x'.repeat((2 * MIB) / 3)} end`;
    const nested = { a: [1, 2.5, -3e-7, true, null, { deep: 'ß' }], 'k"ey': { '': [] }, n: -0.125 };
    // Digits a double cannot hold, in a value over 1 KiB (raw): JSON.parse on the server would
    // have rounded them.
    const bigNumber = '12345678901234567890';
    const pad = 'x'.repeat(2000);
    const stored = `{"text": ${JSON.stringify(text)}, "nested": ${JSON.stringify(nested)}, "exact": [${bigNumber}, "${pad}"]}`;

    async function seed(user: string) {
      const fields = {
        text: { value: 'a', updatedAt: AT },
        nested: { value: 'b', updatedAt: AT },
        exact: { value: 0, updatedAt: AT },
        when: { value: '2024-01-01T00:00:00.000Z', updatedAt: AT, type: 'Date' },
      };
      const res = await s.push(user, 'todo', {
        clientId: 'writer',
        changes: [{ table: 'todos', id: 'big', op: 'update', fields, actor: { kind: 'ai' } }],
      });
      expect(res.status).toBe(200);
      // Seeded through SQL as the user: a push refuses a record over 1 MiB.
      await s.server.db!.forUser(user).query(sql`
        UPDATE sync_records SET data = data || ${stored}::text::jsonb
        WHERE user_id = ${user} AND record_id = 'big'`);
    }

    function expectValues(change: ServerChange) {
      expect(change).toMatchObject({ table: 'todos', id: 'big', op: 'update', actor: { kind: 'ai' } });
      expect(change.fields.text).toEqual({ value: text, updatedAt: AT, actor: { kind: 'ai' } });
      expect(change.fields.nested).toEqual({ value: nested, updatedAt: AT, actor: { kind: 'ai' } });
      expect(change.fields.exact!.value).toEqual([Number(bigNumber), pad]);
      expect(change.fields.when).toEqual({
        value: '2024-01-01T00:00:00.000Z',
        updatedAt: AT,
        type: 'Date',
        actor: { kind: 'ai' },
      });
    }

    it('a pull answers its values as stored, the exact digits included', async () => {
      await seed('raw-pull');
      const res = await s.pull('raw-pull', 'todo', { collection: 'todos' });
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(body));
      expect(body).toContain(`"value":[${bigNumber}, "x`);
      const page = JSON.parse(body) as { serverChanges: ServerChange[]; hasMore: boolean };
      expect(page.hasMore).toBe(false);
      expect(page.serverChanges).toHaveLength(1);
      expectValues(page.serverChanges[0]!);
    });

    it('the writer itself gets nothing back (echo rule), another client everything', async () => {
      await seed('raw-echo');
      const own = await s.pull('raw-echo', 'todo', { collection: 'todos' }, { 'X-Client-Id': 'writer' });
      expect(((await own.json()) as { serverChanges: ServerChange[] }).serverChanges).toEqual([]);
      const other = await s.pull('raw-echo', 'todo', { collection: 'todos' }, { 'X-Client-Id': 'other' });
      expectValues(((await other.json()) as { serverChanges: ServerChange[] }).serverChanges[0]!);
    });

    it("a push's answer carries them the same (Content-Length and chunked bodies)", async () => {
      await seed('raw-push');
      const answer = await s.push('raw-push', 'todo', { clientId: 'other', changes: [] });
      expect(answer.status).toBe(200);
      const body = await answer.text();
      expect(Number(answer.headers.get('content-length'))).toBe(Buffer.byteLength(body));
      const pushed = JSON.parse(body) as { serverChanges: ServerChange[]; conflicts: unknown[] };
      expect(pushed.conflicts).toEqual([]);
      expectValues(pushed.serverChanges[0]!);
      const chunked = await s.request('raw-push', '/sync/todo', {
        method: 'POST',
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(JSON.stringify({ clientId: 'other', changes: [] })));
            controller.close();
          },
        }),
        headers: { 'content-type': 'application/json' },
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(200);
      expectValues(((await chunked.json()) as { serverChanges: ServerChange[] }).serverChanges[0]!);
    });

    it('the SSE stream sends them in one event on one line', async () => {
      await seed('raw-sse');
      const controller = new AbortController();
      const res = await s.request('raw-sse', '/sync/todo/stream?collections=todos', {
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let received = '';
      while (!received.includes('event: changes\n') || !/event: changes\ndata: [^\n]*\n\n/.test(received)) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value;
      }
      controller.abort();
      const line = /event: changes\ndata: ([^\n]*)\n\n/.exec(received)![1]!;
      const block = JSON.parse(line) as { table: string; changes: ServerChange[] };
      expect(block.table).toBe('todos');
      expectValues(block.changes[0]!);
    });
  });
}
