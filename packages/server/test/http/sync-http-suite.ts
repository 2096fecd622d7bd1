import { LIMITS, type ServerChange } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.js';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * The push/pull protocol over real HTTP with real signed tokens, written once and run on
 * PGlite (sync-http.test.ts) and PostgreSQL (sync-http.pg.test.ts).
 */
export function syncHttpSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`push and pull over HTTP on ${name}`, () => {
    let db: TestDatabase;
    let s: TestServer;
    let n = 0;
    const user = () => `u${++n}-${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      db = await makeDb();
      s = await startTestServer(db);
    });
    afterAll(async () => {
      await s?.close();
      await db?.drop();
    });

    const field = (value: unknown, updatedAt: string) => ({ value, updatedAt });
    const update = (
      id: string,
      fields: Record<string, { value: unknown; updatedAt: string }>,
      table = 'todos',
    ) => ({
      table,
      id,
      op: 'update',
      fields,
    });
    async function push(userId: string, changes: unknown[], clientId = 'client-a', since?: string) {
      const res = await s.push(userId, 'todo', { clientId, ...(since ? { since } : {}), changes });
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as {
        serverChanges: ServerChange[];
        conflicts: Array<Record<string, unknown>>;
        syncedUntil: string;
        hasMore: boolean;
      };
    }
    async function pullAll(userId: string, collection = 'todos', limit = 1000) {
      const seen: ServerChange[] = [];
      let since = '1970-01-01T00:00:00Z';
      for (let guard = 0; guard < 1000; guard++) {
        const res = await s.pull(userId, 'todo', { collection, since, limit: String(limit) });
        expect(res.status).toBe(200);
        const page = (await res.json()) as {
          serverChanges: ServerChange[];
          syncedUntil: string;
          hasMore: boolean;
        };
        seen.push(...page.serverChanges);
        since = page.syncedUntil;
        if (!page.hasMore) break;
      }
      return seen;
    }
    const valuesOf = (c: ServerChange | undefined) =>
      Object.fromEntries(Object.entries(c?.fields ?? {}).map(([k, f]) => [k, f.value]));
    /** One page of todos from the start, as client `clientId` (X-Client-Id; null: none). */
    async function pullAs(userId: string, clientId: string | null, query: Record<string, string> = {}) {
      const headers: Record<string, string> = clientId === null ? {} : { 'x-client-id': clientId };
      const res = await s.pull(userId, 'todo', { collection: 'todos', ...query }, headers);
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as { serverChanges: ServerChange[]; syncedUntil: string; hasMore: boolean };
    }
    /** A push expected to be refused: its error. */
    async function refused(userId: string, body: unknown, headers: Record<string, string> = {}) {
      const res = await s.push(userId, 'todo', body, headers);
      expect(res.status, await res.clone().text()).toBe(400);
      return ((await res.json()) as { error: { code: string; path?: string } }).error;
    }

    it('seed example 1: the later timestamp wins', async () => {
      const u = user();
      await push(u, [update('todo-123', { title: field('Buy milk', '2024-01-01T10:05:00Z') })], 'A');
      await push(u, [update('todo-123', { title: field('Buy eggs', '2024-01-01T10:05:30Z') })], 'B');
      expect(valuesOf((await pullAll(u))[0])).toEqual({ title: 'Buy eggs' });
    });

    it('seed example 2: different fields merge', async () => {
      const u = user();
      await push(u, [
        update('todo-123', {
          title: field('Buy milk', '2024-01-01T10:05:00Z'),
          completed: field(true, '2024-01-01T10:06:00Z'),
        }),
      ]);
      const r = await push(
        u,
        [update('todo-123', { title: field('Buy eggs', '2024-01-01T10:05:30Z') })],
        'B',
      );
      expect(r.conflicts).toEqual([]);
      expect(valuesOf((await pullAll(u))[0])).toEqual({ title: 'Buy eggs', completed: true });
    });

    it('a delete beats an earlier edit and loses to a later one', async () => {
      const u = user();
      await push(u, [
        { table: 'todos', id: 'x', op: 'insert', fields: { title: field('x', '2024-01-01T10:00:00Z') } },
      ]);
      await push(u, [{ table: 'todos', id: 'x', op: 'delete', deletedAt: '2024-01-01T10:10:00Z' }], 'B');
      const earlier = await push(u, [update('x', { deletedAt: field(null, '2024-01-01T10:05:00Z') })], 'A');
      expect(earlier.conflicts).toHaveLength(1);
      let [rec] = await pullAll(u);
      expect(rec!.op).toBe('delete');
      // A field time (and deletedAt) goes out with milliseconds when its microseconds are zero.
      expect(rec!.deletedAt).toBe('2024-01-01T10:10:00.000Z');
      // An edit of another field does not undelete; a later deletedAt: null does.
      await push(u, [update('x', { title: field('edited', '2024-01-01T10:20:00Z') })], 'A');
      expect((await pullAll(u))[0]!.op).toBe('delete');
      await push(u, [update('x', { deletedAt: field(null, '2024-01-01T10:30:00Z') })], 'A');
      [rec] = await pullAll(u);
      expect(rec!.op).not.toBe('delete');
      expect(valuesOf(rec)).toEqual({ title: 'edited', deletedAt: null });
    });

    it('an undelete older than the delete loses and is reported', async () => {
      const u = user();
      await push(u, [update('y', { title: field('y', '2024-01-01T10:00:00Z') })]);
      await push(u, [{ table: 'todos', id: 'y', op: 'delete', deletedAt: '2024-01-01T09:00:00Z' }], 'B');
      // Deleted at 09:00 — an undelete at 08:00 loses, the record stays deleted.
      const r = await push(u, [update('y', { deletedAt: field(null, '2024-01-01T08:00:00Z') })], 'A');
      expect(r.conflicts.map((c) => c.field)).toEqual(['deletedAt']);
      expect((await pullAll(u))[0]!.op).toBe('delete');
    });

    it('on a tie the stored value stays and the loser is reported', async () => {
      const u = user();
      await push(u, [update('t', { title: field('first', '2024-01-01T10:00:00Z') })], 'A');
      const r = await push(u, [update('t', { title: field('second', '2024-01-01T10:00:00.000Z') })], 'B');
      expect(r.conflicts).toEqual([
        {
          table: 'todos',
          id: 't',
          field: 'title',
          clientValue: 'second',
          clientUpdatedAt: '2024-01-01T10:00:00.000Z',
          serverValue: 'first',
          serverUpdatedAt: '2024-01-01T10:00:00.000Z',
        },
      ]);
      expect(valuesOf((await pullAll(u))[0])).toEqual({ title: 'first' });
    });

    it('a retried push changes nothing and reports no conflict', async () => {
      const u = user();
      const changes = [
        update('r', { title: field('once', '2024-01-01T10:00:00Z'), n: field(1, '2024-01-01T10:00:00Z') }),
      ];
      const first = await push(u, changes);
      const before = await pullAll(u);
      const retry = await push(u, changes, 'client-a', first.syncedUntil);
      expect(retry.conflicts).toEqual([]);
      expect(retry.serverChanges).toEqual([]);
      expect(retry.syncedUntil).toBe(first.syncedUntil);
      expect(await pullAll(u)).toEqual(before);
    });

    it('clamps a far-future timestamp to the server clock', async () => {
      const u = user();
      const before = Date.now();
      await push(u, [update('f', { title: field('from the future', '2999-01-01T00:00:00Z') })]);
      const at = Date.parse((await pullAll(u))[0]!.fields.title!.updatedAt);
      expect(at).toBeGreaterThanOrEqual(before - 1000);
      expect(at).toBeLessThanOrEqual(Date.now() + 1000);
      // So a normal edit a little later can still win.
      await push(u, [update('f', { title: field('now', new Date(Date.now() + 5000).toISOString()) })], 'B');
      expect(valuesOf((await pullAll(u))[0])).toEqual({ title: 'now' });
    });

    it('writes nothing of a push whose last change is invalid', async () => {
      const u = user();
      const res = await s.push(u, 'todo', {
        clientId: 'a',
        changes: [
          update('ok-1', { title: field('a', '2024-01-01T10:00:00Z') }),
          update('ok-2', { title: field('b', '2024-01-01T10:00:00Z') }),
          {
            table: 'todos',
            id: 'bad',
            op: 'update',
            fields: { title: { value: 'c', updatedAt: 'not a time' } },
          },
        ],
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; path: string } };
      expect(body.error.code).toBe('INVALID_REQUEST');
      expect(body.error.path).toBe('changes.2.fields.title.updatedAt');
      expect(await pullAll(u)).toEqual([]);
    });

    it('bounds every answer by bytes (PAGE_MAX_BYTES, 4 MiB): pull and push page on, a larger record goes alone', async () => {
      const u = user();
      const t = '2024-01-01T10:00:00Z';
      const ids = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'huge'];
      await push(
        u,
        ids.map((id) => update(id, { blob: field('x', t) })),
      );
      // Seeded through SQL as the user: 1 MB each (6 MB in all), and one of 5 MB.
      for (const [id, bytes] of ids.map((id) => [id, id === 'huge' ? 5_000_000 : 1_000_000] as const))
        await s.server.db!.forUser(u).query(sql`
          UPDATE sync_records SET data = jsonb_set(data, '{blob}', to_jsonb(repeat('y', ${bytes}::text::int)))
          WHERE user_id = ${u} AND record_id = ${id}`);
      const budget = 4 * 1024 * 1024;
      const pages: Array<{ ids: string[]; bytes: number }> = [];
      let since = '1970-01-01T00:00:00Z';
      for (let guard = 0; guard < 10; guard++) {
        const res = await s.pull(u, 'todo', { collection: 'todos', since, limit: '1000' });
        expect(res.status).toBe(200);
        const text = await res.text();
        const page = JSON.parse(text) as {
          serverChanges: ServerChange[];
          syncedUntil: string;
          hasMore: boolean;
        };
        pages.push({ ids: page.serverChanges.map((c) => c.id), bytes: text.length });
        expect(page.syncedUntil).toBe(page.serverChanges.at(-1)!.updatedAt);
        since = page.syncedUntil;
        if (!page.hasMore) break;
      }
      expect(pages.map((p) => p.ids)).toEqual([['b0', 'b1', 'b2', 'b3'], ['b4', 'b5'], ['huge']]);
      for (const p of pages.slice(0, 2)) expect(p.bytes).toBeLessThan(budget + 4096);

      // A push without `since` (an empty one, and one that writes) answers the same first page.
      const empty = await push(u, [], 'client-z');
      expect(empty.serverChanges.map((c) => c.id)).toEqual(['b0', 'b1', 'b2', 'b3']);
      expect(empty.hasMore).toBe(true);
      const writing = await push(u, [update('small', { v: field(1, t) })], 'client-z');
      expect(writing.serverChanges.map((c) => c.id)).toEqual(['b0', 'b1', 'b2', 'b3']);
      expect(writing.hasMore).toBe(true);
      expect(writing.syncedUntil).toBe(empty.syncedUntil);
    });

    it('refuses a push that grows a record past a size limit: 413 RECORD_TOO_LARGE / 400 TOO_MANY_FIELDS naming the change, nothing written', async () => {
      const u = user();
      const t = '2024-01-01T10:00:00Z';
      const ok = update('fine', { title: field('ok', t) });
      const big = await s.push(u, 'todo', {
        clientId: 'c',
        changes: [ok, update('big', { title: field('x'.repeat(LIMITS.maxValueLength), t) })],
      });
      expect(big.status).toBe(413);
      expect(await big.json()).toMatchObject({
        error: { code: 'RECORD_TOO_LARGE', path: 'changes.1.fields.title' },
      });
      const wide = Object.fromEntries(
        Array.from({ length: LIMITS.maxFieldsPerRecord + 1 }, (_, i) => [`f${i}`, field(i, t)]),
      );
      const many = await s.push(u, 'todo', { clientId: 'c', changes: [ok, update('wide', wide)] });
      expect(many.status).toBe(400);
      expect(await many.json()).toMatchObject({ error: { code: 'TOO_MANY_FIELDS', path: 'changes.1' } });
      expect(await pullAll(u)).toEqual([]);
    });

    it('refuses a user who spent RATE_LIMIT_ROWS with 429 and Retry-After, and nobody else', async () => {
      // 1,000 rows at once; no waiting for the budget: refused at once.
      const limited = await startTestServer(db, { rateLimitRows: 50, rateLimitMaxWaitMs: 0 });
      try {
        const heavy = user();
        const t = '2024-01-01T10:00:00Z';
        const changes = Array.from({ length: 600 }, (_, i) => update(`r${i}`, { v: field(i, t) }));
        const body = (c: unknown[]) => ({ clientId: 'c', changes: c });
        // 600 stored records read and 600 written: the push is served, the budget overdrawn.
        expect((await limited.push(heavy, 'todo', body(changes))).status).toBe(200);
        const refused = await limited.push(heavy, 'todo', body([]));
        expect(refused.status).toBe(429);
        expect(refused.headers.get('retry-after')).toBe('4');
        expect(await refused.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
        const pulled = await limited.pull(heavy, 'todo', { collection: 'todos' });
        expect(pulled.status).toBe(429);
        // Another user is served as before.
        expect((await limited.push(user(), 'todo', body([update('a', { v: field(1, t) })]))).status).toBe(
          200,
        );
      } finally {
        await limited.close();
      }
    });

    it('charges the page rows a push reads even when it sends none of them (its own writes)', async () => {
      const limited = await startTestServer(db, { rateLimitRows: 50, rateLimitMaxWaitMs: 0 });
      try {
        const heavy = user();
        const t = '2024-01-01T10:00:00Z';
        const changes = Array.from({ length: 450 }, (_, i) => update(`r${i}`, { v: field(i, t) }));
        // 450 read and 450 written: 900 of the 1,000 rows.
        expect((await limited.push(heavy, 'todo', { clientId: 'a', changes })).status).toBe(200);
        // Client a again, from the start: the page reads its 450 records and sends none back.
        const again = await limited.push(heavy, 'todo', { clientId: 'a', changes: [] });
        expect(again.status).toBe(200);
        expect(((await again.json()) as { serverChanges: unknown[] }).serverChanges).toEqual([]);
        // Those 450 rows were charged: the budget is spent.
        const next = await limited.push(heavy, 'todo', { clientId: 'b', changes: [] });
        expect(next.status).toBe(429);
      } finally {
        await limited.close();
      }
    });

    it('charges the rows a pull reads even when it sends none of them (its own writes)', async () => {
      const limited = await startTestServer(db, { rateLimitRows: 50, rateLimitMaxWaitMs: 0 });
      try {
        const heavy = user();
        const t = '2024-01-01T10:00:00Z';
        const changes = Array.from({ length: 450 }, (_, i) => update(`r${i}`, { v: field(i, t) }));
        // 450 read and 450 written: 900 of the 1,000 rows.
        expect((await limited.push(heavy, 'todo', { clientId: 'a', changes })).status).toBe(200);
        // Client a pulls from the start: 450 rows read, none sent (it wrote them all).
        const own = await limited.pull(heavy, 'todo', { collection: 'todos' }, { 'X-Client-Id': 'a' });
        expect(own.status).toBe(200);
        expect(((await own.json()) as { serverChanges: unknown[] }).serverChanges).toEqual([]);
        // Those 450 rows were charged: the budget is spent.
        const next = await limited.pull(heavy, 'todo', { collection: 'todos' }, { 'X-Client-Id': 'b' });
        expect(next.status).toBe(429);
      } finally {
        await limited.close();
      }
    });

    it("charges an empty push the index probes of its answer's page: two a table", async () => {
      const limited = await startTestServer(db, { rateLimitRows: 50, rateLimitMaxWaitMs: 0 });
      try {
        const heavy = user();
        const t = '2024-01-01T10:00:00Z';
        // 60 tables of one record: 120 rows of the 1,000.
        const changes = Array.from({ length: 60 }, (_, i) => update('r', { v: field(i, t) }, `t${i}`));
        const first = await limited.push(heavy, 'todo', { clientId: 'a', changes });
        expect(first.status).toBe(200);
        const { syncedUntil } = (await first.json()) as { syncedUntil: string };
        // Up to date: each answer is empty, yet its page probes the 60 tables (120 probes).
        // Free, a user could send these forever; charged, the budget is spent within 20.
        const statuses: number[] = [];
        for (let i = 0; i < 20 && !statuses.includes(429); i++)
          statuses.push(
            (await limited.push(heavy, 'todo', { clientId: 'a', since: syncedUntil, changes: [] })).status,
          );
        expect(statuses).toContain(429);
      } finally {
        await limited.close();
      }
    });

    it('serves a user over RATE_LIMIT_ROWS after a wait, not with a 429, when the wait is short', async () => {
      // 10,000 rows at once, then 500 a second; waits of up to 5 s are served.
      const limited = await startTestServer(db, { rateLimitRows: 500 });
      try {
        const heavy = user();
        const t = '2024-01-01T10:00:00Z';
        // 5,500 read and 5,500 written: 1,000 rows overdrawn, 2 s to wait.
        const changes = Array.from({ length: 5500 }, (_, i) => update(`r${i}`, { v: field(i, t) }));
        expect((await limited.push(heavy, 'todo', { clientId: 'a', changes })).status).toBe(200);
        const pulled = await limited.pull(heavy, 'todo', { collection: 'todos', limit: '1' });
        expect(pulled.status).toBe(200);
      } finally {
        await limited.close();
      }
    });

    it('pages a pull across more records than the limit, none lost or repeated', async () => {
      const u = user();
      for (let b = 0; b < 5; b++) {
        await push(
          u,
          Array.from({ length: 50 }, (_, i) => update(`p${b}-${i}`, { i: field(i, '2024-01-01T10:00:00Z') })),
        );
      }
      const seen = await pullAll(u, 'todos', 17);
      expect(seen).toHaveLength(250);
      expect(new Set(seen.map((c) => c.id)).size).toBe(250);
      const positions = seen.map((c) => c.updatedAt);
      expect([...positions].sort()).toEqual(positions);
    });

    it('never lets a pulling client skip a record while the same user pushes concurrently', async () => {
      const u = user();
      const writers = 4;
      const batches = 12;
      const expected = new Set<string>();
      const seen = new Set<string>();
      let done = false;
      let since = '1970-01-01T00:00:00Z';
      const puller = (async () => {
        while (true) {
          const finished = done;
          const res = await s.pull(u, 'todo', { collection: 'todos', since, limit: '5' });
          const page = (await res.json()) as {
            serverChanges: ServerChange[];
            syncedUntil: string;
            hasMore: boolean;
          };
          for (const c of page.serverChanges) {
            expect(c.updatedAt > since).toBe(true);
            seen.add(c.id);
          }
          since = page.syncedUntil;
          if (finished && !page.hasMore) return;
        }
      })();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let b = 0; b < batches; b++) {
            const ids = Array.from({ length: 3 }, (_, i) => `w${w}-b${b}-${i}`);
            await push(
              u,
              ids.map((id) => update(id, { v: field(id, '2024-01-01T10:00:00Z') })),
              `writer-${w}`,
            );
            for (const id of ids) expected.add(id);
          }
        }),
      );
      done = true;
      await puller;
      expect(expected.size).toBe(writers * batches * 3);
      expect([...expected].filter((id) => !seen.has(id))).toEqual([]);
    });

    it('keeps users apart: B never sees or overwrites A', async () => {
      const a = user();
      const b = user();
      await push(a, [update('shared-id', { secret: field('A', '2024-01-01T10:00:00Z') })]);
      const rb = await push(b, [update('shared-id', { secret: field('B', '2024-01-01T09:00:00Z') })]);
      expect(rb.conflicts).toEqual([]);
      expect(rb.serverChanges).toEqual([]); // B's own write is not sent back to the client that wrote it
      const other = await push(b, [], 'client-b2');
      expect(other.serverChanges.map(valuesOf)).toEqual([{ secret: 'B' }]);
      expect((await pullAll(a)).map(valuesOf)).toEqual([{ secret: 'A' }]);
      expect((await pullAll(b)).map(valuesOf)).toEqual([{ secret: 'B' }]);
    });

    it('returns other clients’ changes in the push response since the cursor', async () => {
      const u = user();
      const a1 = await push(u, [update('m1', { v: field(1, '2024-01-01T10:00:00Z') })], 'A');
      await push(u, [update('m2', { v: field(2, '2024-01-01T10:00:00Z') }, 'notes')], 'B');
      const a2 = await push(u, [], 'A', a1.syncedUntil);
      // An update (never an insert, even for a record new to A); A's own m1 is left out.
      expect(a2.serverChanges.map((c) => [c.table, c.id, c.op])).toEqual([['notes', 'm2', 'update']]);
      expect(a2.syncedUntil > a1.syncedUntil).toBe(true);
    });
    it('sends field times with milliseconds when their microseconds are zero, else six digits; cursors with six', async () => {
      const u = user();
      await push(u, [
        update('w', {
          a: field(1, '2024-01-01T10:00:00.123456Z'),
          b: field(2, '2024-01-01T12:30:00.5+02:30'),
          c: field(3, '2024-01-01T10:00:00.123456789Z'),
        }),
      ]);
      const page = await pullAs(u, null);
      const rec = page.serverChanges[0]!;
      expect(Object.fromEntries(Object.entries(rec.fields).map(([k, f]) => [k, f.updatedAt]))).toEqual({
        a: '2024-01-01T10:00:00.123456Z',
        b: '2024-01-01T10:00:00.500Z',
        c: '2024-01-01T10:00:00.123456Z',
      });
      expect(rec.updatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      expect(page.syncedUntil).toBe(rec.updatedAt);
    });

    it('refuses a schemaVersion newer than supported, on the changeset or on a change, and writes nothing', async () => {
      const u = user();
      const ok = update('v1', { title: field('never stored', '2024-01-01T10:00:00Z') });
      const newer = { ...update('v2', { title: field('x', '2024-01-01T10:00:00Z') }), schemaVersion: 2 };
      expect(await refused(u, { clientId: 'A', schemaVersion: 2, changes: [ok] })).toMatchObject({
        code: 'SCHEMA_VERSION_UNSUPPORTED',
        path: 'schemaVersion',
      });
      expect(await refused(u, { clientId: 'A', schemaVersion: 1, changes: [ok, newer] })).toMatchObject({
        code: 'SCHEMA_VERSION_UNSUPPORTED',
        path: 'changes.1.schemaVersion',
      });
      expect(await pullAll(u)).toEqual([]);
    });

    it('accepts schemaVersion 1 and an actor, and sends the actor back per field and on the change', async () => {
      const u = user();
      const person = { type: 'user', id: 'user-1' };
      const agent = { type: 'ai', agent: 'planner', run: 7, tools: ['calendar'] };
      const res = await s.push(u, 'todo', {
        clientId: 'A',
        schemaVersion: 1,
        changes: [
          {
            ...update('act', { title: field('plan', '2024-01-01T10:00:00Z') }),
            schemaVersion: 1,
            actor: person,
          },
        ],
      });
      expect(res.status, await res.clone().text()).toBe(200);
      const { syncedUntil } = (await res.json()) as { syncedUntil: string };
      // C's push answer (C has seen up to A's push) carries A's field with A's actor, and not
      // C's own field.
      const c = await push(
        u,
        [{ ...update('act', { done: field(true, '2024-01-01T10:05:00Z') }), actor: agent }],
        'C',
        syncedUntil,
      );
      expect(c.serverChanges.map((sc) => sc.fields)).toEqual([
        { title: { value: 'plan', updatedAt: '2024-01-01T10:00:00.000Z', actor: person } },
      ]);
      // Another client's pull: every field with its actor; the change's actor is the newest field's.
      const [rec] = (await pullAs(u, 'B')).serverChanges;
      expect(rec!.fields).toEqual({
        title: { value: 'plan', updatedAt: '2024-01-01T10:00:00.000Z', actor: person },
        done: { value: true, updatedAt: '2024-01-01T10:05:00.000Z', actor: agent },
      });
      expect(rec!.actor).toEqual(agent);
      // A newer field written without an actor carries none, and neither does the change.
      await push(u, [update('act', { note: field('n', '2024-01-01T10:10:00Z') })], 'D');
      const [later] = (await pullAs(u, 'B')).serverChanges;
      expect(later!.fields.note).toEqual({ value: 'n', updatedAt: '2024-01-01T10:10:00.000Z' });
      expect(later!.fields.title!.actor).toEqual(person);
      expect(later).not.toHaveProperty('actor');
    });

    it('refuses an actor of more than 1 KiB of JSON, and stores one of exactly 1 KiB', async () => {
      const u = user();
      // {"note":"…"}: 11 characters around the note.
      const withActor = (length: number) => ({
        ...update('big', { title: field('t', '2024-01-01T10:00:00Z') }),
        actor: { note: 'x'.repeat(length - 11) },
      });
      expect(JSON.stringify(withActor(1025).actor)).toHaveLength(1025);
      expect(await refused(u, { clientId: 'A', changes: [withActor(1025)] })).toMatchObject({
        code: 'INVALID_REQUEST',
        path: 'changes.0.actor',
      });
      expect(await pullAll(u)).toEqual([]);
      await push(u, [withActor(1024)], 'A');
      expect((await pullAll(u))[0]!.fields.title!.actor).toEqual(withActor(1024).actor);
    });

    it('leaves out of a pull the fields the pulling client (X-Client-Id) wrote itself; others get them', async () => {
      const u = user();
      await push(u, [update('shared', { title: field('by A', '2024-01-01T10:00:00Z') })], 'A');
      await push(u, [update('shared', { done: field(true, '2024-01-01T10:01:00Z') })], 'B');
      await push(u, [update('only-a', { title: field('all A', '2024-01-01T10:00:00Z') })], 'A');
      const rows = (page: { serverChanges: ServerChange[] }) =>
        page.serverChanges.map((c) => [c.id, valuesOf(c)]);
      const none = await pullAs(u, null);
      expect(rows(none)).toEqual([
        ['shared', { title: 'by A', done: true }],
        ['only-a', { title: 'all A' }],
      ]);
      expect(await pullAs(u, 'C')).toEqual(none);
      expect(rows(await pullAs(u, 'B'))).toEqual([
        ['shared', { title: 'by A' }],
        ['only-a', { title: 'all A' }],
      ]);
      // A gets only B's field; its own record is skipped, and its cursor moves past it all the same.
      const a = await pullAs(u, 'A');
      expect(rows(a)).toEqual([['shared', { done: true }]]);
      expect(a.serverChanges[0]!.op).toBe('update');
      expect([a.syncedUntil, a.hasMore]).toEqual([none.syncedUntil, false]);
      // Paged: the skipped record still counts toward the page, which comes back empty but moves on.
      const first = await pullAs(u, 'A', { limit: '1' });
      expect([rows(first), first.hasMore]).toEqual([[['shared', { done: true }]], true]);
      const second = await pullAs(u, 'A', { limit: '1', since: first.syncedUntil });
      expect([second.serverChanges, second.syncedUntil, second.hasMore]).toEqual([
        [],
        none.syncedUntil,
        false,
      ]);
    });

    it('leaves the pushing client’s own records out of its push answer; X-Client-Id names it over the body’s clientId', async () => {
      const u = user();
      await push(u, [update('by-a', { v: field('a', '2024-01-01T10:00:00Z') })], 'A');
      await push(u, [update('by-b', { v: field('b', '2024-01-01T10:00:00Z') })], 'B');
      const ids = (answer: { serverChanges: ServerChange[] }) => answer.serverChanges.map((c) => c.id);
      expect(ids(await push(u, [], 'A'))).toEqual(['by-b']);
      expect(ids(await push(u, [], 'C'))).toEqual(['by-a', 'by-b']);
      // The body says A, the header B: the answer is B's.
      const asB = await s.push(u, 'todo', { clientId: 'A', changes: [] }, { 'x-client-id': 'B' });
      expect(asB.status).toBe(200);
      expect(ids((await asB.json()) as { serverChanges: ServerChange[] })).toEqual(['by-a']);
      // And so is the write: B's pulls leave it out, A's do not.
      const written = await s.push(
        u,
        'todo',
        { clientId: 'A', changes: [update('by-header', { v: field('h', '2024-01-01T10:00:00Z') })] },
        { 'x-client-id': 'B' },
      );
      expect(written.status).toBe(200);
      expect(ids((await written.json()) as { serverChanges: ServerChange[] })).toEqual(['by-a']);
      expect(ids(await pullAs(u, 'B'))).toEqual(['by-a']);
      expect(ids(await pullAs(u, 'A'))).toEqual(['by-b', 'by-header']);
    });

    it('refuses a push whose X-Client-Id is not a client id, and writes nothing', async () => {
      const u = user();
      const body = { clientId: 'A', changes: [update('h', { v: field(1, '2024-01-01T10:00:00Z') })] };
      expect(await refused(u, body, { 'x-client-id': 'not a client id!' })).toMatchObject({
        code: 'INVALID_REQUEST',
        path: 'X-Client-Id',
      });
      expect(await pullAll(u)).toEqual([]);
    });
  });
}
