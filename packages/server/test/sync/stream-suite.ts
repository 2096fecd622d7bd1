import { Writable } from 'node:stream';
import { type StreamChanges, streamChangesSchema } from '@mana/sync-protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import type { TestDatabase } from '../helpers/databases.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { openSse, type SseClient, type StreamRequest } from '../helpers/sse-client.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const SERVICE_KEY = 'svc-stream-0123456789abcdef0123456789';
const EPOCH = '1970-01-01T00:00:00.000Z';

/**
 * `GET /sync/{appId}/stream` over real HTTP with real tokens, read by a parser that behaves
 * like the Mana web app's (helpers/sse-client.ts), written once and run on PGlite
 * (stream.test.ts) and PostgreSQL (stream.pg.test.ts). "Never sent" is shown with a barrier,
 * not a sleep: a later block that must arrive is awaited, and it must be the first one seen.
 */
export function streamSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`the SSE stream on ${name}`, () => {
    let db: TestDatabase;
    let ts: TestServer;
    const logLines: string[] = [];
    const clients: SseClient[] = [];
    let n = 0;
    const user = () => `s${++n}-${Math.random().toString(36).slice(2, 8)}`;
    let stamp = Date.parse('2024-01-01T00:00:00Z');
    const nextTime = () => {
      stamp += 1000;
      return new Date(stamp).toISOString();
    };

    beforeAll(async () => {
      db = await makeDb();
      const logs = new Writable({
        write(chunk, _enc, done) {
          logLines.push(...String(chunk).split('\n').filter(Boolean));
          done();
        },
      });
      ts = await startTestServer(
        db,
        { sseMaxStreamsPerUser: 3, serviceKey: SERVICE_KEY },
        { logger: createLogger('info', { destination: logs }) },
      );
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      // Every stream of a test is gone before the next starts (the gauge tests count on it).
      for (let i = 0; i < 100 && ts.server.context.streams.counts().open > 0; i++) await sleep(20);
    });
    afterAll(async () => {
      await ts?.close();
      await db?.drop();
    });

    const open = async (userId: string, query: StreamRequest['query'], opts: Partial<StreamRequest> = {}) => {
      const c = await openSse(ts.url, 'todo', {
        token: await ts.token(userId),
        query,
        ...opts,
      });
      clients.push(c);
      return c;
    };
    /** Records `ids` of `table`, each with `fields`, pushed by `clientId`. */
    const push = async (
      userId: string,
      table: string,
      ids: string[],
      clientId = 'phone',
      appId = 'todo',
      value: (id: string) => unknown = (id) => `title of ${id}`,
    ) => {
      const at = nextTime();
      const res = await ts.push(userId, appId, {
        clientId,
        changes: ids.map((id) => ({
          table,
          id,
          op: 'update',
          fields: { title: { value: value(id), updatedAt: at } },
        })),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    };
    /** The next block, which must be a `changes` block: its data parsed and checked. */
    const nextChanges = async (c: SseClient, timeoutMs?: number): Promise<StreamChanges> => {
      const block = await c.next(timeoutMs);
      expect(block.type).toBe('changes');
      return streamChangesSchema.parse(JSON.parse(block.data));
    };
    const ids = (page: StreamChanges) => page.changes.map((ch) => ch.id);
    const range = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

    it('answers with the SSE headers, then a catch-up of every collection, page by page', async () => {
      const u = user();
      await push(u, 'tasks', range('t', 7));
      await push(u, 'lists', range('l', 5));
      await push(u, 'notes', ['not-followed']);
      await push(u, 'tasks', ['other-app'], 'phone', 'calendar');
      await push(user(), 'tasks', ['other-user']);

      const c = await open(u, { collections: 'tasks,lists,empty', since: EPOCH, limit: '3' });
      expect(c.status).toBe(200);
      expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(c.headers['cache-control']).toBe('no-cache');
      expect(c.headers['x-accel-buffering']).toBe('no');

      const pages: StreamChanges[] = [];
      for (let i = 0; i < 5; i++) pages.push(await nextChanges(c));
      expect(pages.map((p) => [p.table, p.changes.length, p.hasMore])).toEqual([
        ['tasks', 3, true],
        ['tasks', 3, true],
        ['tasks', 1, false],
        ['lists', 3, true],
        ['lists', 2, false],
      ]);
      expect(pages.filter((p) => p.table === 'tasks').flatMap(ids)).toEqual(range('t', 7));
      expect(pages.filter((p) => p.table === 'lists').flatMap(ids)).toEqual(range('l', 5));
      for (const p of pages) {
        // The table's cursor: the position of the page's last record.
        expect(p.syncedUntil).toBe(p.changes.at(-1)!.updatedAt);
        expect(p.changes.every((ch) => ch.table === p.table)).toBe(true);
      }
      // Nothing for a table with no records (its cursor did not move); the next block is live.
      await push(u, 'empty', ['e0']);
      const live = await nextChanges(c);
      expect([live.table, ids(live), live.hasMore]).toEqual(['empty', ['e0'], false]);
    });

    it('sends a page when another device pushes: its app, its tables, its user only', async () => {
      const u = user();
      const c = await open(u, { collections: 'tasks,lists', since: EPOCH }, { clientId: 'laptop' });
      await push(user(), 'tasks', ['stranger']);
      await push(u, 'tasks', ['calendar-task'], 'phone', 'calendar');
      await push(u, 'notes', ['a-note']);
      await push(u, 'lists', ['l1']);
      const first = await nextChanges(c);
      expect([first.table, ids(first)]).toEqual(['lists', ['l1']]);
      await push(u, 'tasks', ['t1', 't2']);
      const second = await nextChanges(c);
      expect([second.table, ids(second)]).toEqual(['tasks', ['t1', 't2']]);
      expect(second.changes.map((ch) => ch.fields.title?.value)).toEqual(['title of t1', 'title of t2']);
      await push(u, 'tasks', ['t1'], 'tablet', 'todo', () => 'edited');
      const third = await nextChanges(c);
      expect(third.changes.map((ch) => [ch.id, ch.fields.title?.value])).toEqual([['t1', 'edited']]);
      expect(third.syncedUntil > second.syncedUntil).toBe(true);
    });

    it('does not wake for its own client’s pushes (X-Client-Id); without one it hears them', async () => {
      const u = user();
      const mine = await open(u, { collections: 'tasks,lists' }, { clientId: 'laptop' });
      const anonymous = await open(u, { collections: 'tasks,lists' });
      await push(u, 'tasks', ['own'], 'laptop');
      expect(ids(await nextChanges(anonymous))).toEqual(['own']);
      await push(u, 'lists', ['theirs'], 'phone');
      const first = await nextChanges(mine);
      expect([first.table, ids(first)]).toEqual(['lists', ['theirs']]);
    });

    it('a client that reconnects with the cursors it got misses nothing while other devices push', async () => {
      const u = user();
      const tables = ['tasks', 'lists'];
      await push(u, 'tasks', range('seed-t', 6));
      await push(u, 'lists', range('seed-l', 6));
      // The web app's state: per table a cursor and the records it applied.
      const cursor = new Map(tables.map((t) => [t, EPOCH]));
      const applied = new Map(tables.map((t) => [t, new Map<string, unknown>()]));
      const apply = (page: StreamChanges) => {
        for (const ch of page.changes) applied.get(page.table)!.set(ch.id, ch.fields.title?.value);
        cursor.set(page.table, page.syncedUntil);
      };
      // It reconnects with the oldest of its cursors, as the web app does.
      const oldest = () => [...cursor.values()].sort()[0]!;
      const connect = () =>
        open(u, { collections: tables.join(','), since: oldest(), limit: '4' }, { clientId: 'laptop' });

      let writing = true;
      const writers = Promise.all(
        [0, 1, 2].map(async (w) => {
          for (let b = 0; b < 8; b++) {
            const table = tables[(w + b) % 2]!;
            await push(
              u,
              table,
              [`w${w}-${b}-a`, `w${w}-${b}-b`, `shared-${b % 3}`],
              `phone-${w}`,
              'todo',
              (id) => (id.startsWith('shared') ? `w${w}-${b}` : id),
            );
          }
        }),
      ).finally(() => {
        writing = false;
      });
      // Connect, read a few blocks, drop the connection; again, while the writers push.
      let connections = 0;
      while (writing) {
        connections++;
        const c = await connect();
        for (let i = 0; i < 3; i++) {
          try {
            apply(await nextChanges(c, 150));
          } catch {
            break; // nothing more for now
          }
        }
        c.close();
      }
      await writers;
      expect(connections).toBeGreaterThan(1);
      const last = await connect();
      await push(u, 'tasks', ['marker'], 'phone-0');
      await push(u, 'lists', ['marker'], 'phone-0');
      while (!tables.every((t) => applied.get(t)!.has('marker'))) apply(await nextChanges(last));

      // What the server holds, by pull, is exactly what the client applied.
      for (const table of tables) {
        const held = new Map<string, unknown>();
        let since = EPOCH;
        for (let more = true; more; ) {
          const res = await ts.pull(u, 'todo', { collection: table, since });
          const page = (await res.json()) as {
            serverChanges: StreamChanges['changes'];
            syncedUntil: string;
            hasMore: boolean;
          };
          for (const ch of page.serverChanges) held.set(ch.id, ch.fields.title?.value);
          since = page.syncedUntil;
          more = page.hasMore;
        }
        expect(held.size).toBeGreaterThan(6);
        expect(new Map([...applied.get(table)!].sort()), table).toEqual(new Map([...held].sort()));
        expect(cursor.get(table)).toBe(since);
      }
    });

    it('pulls every followed table again when the fan-out says events may have been lost', async () => {
      const u = user();
      const c = await open(u, { collections: 'tasks,lists' }, { clientId: 'laptop' });
      // Past the catch-up (tables in order: once a lists block came, tasks was read): a
      // catch-up still running would otherwise find the unannounced record by itself.
      await push(u, 'lists', ['warm']);
      expect(ids(await nextChanges(c))).toEqual(['warm']);
      // A push whose event never reaches this instance (as while the fan-out is down).
      const muted = vi.spyOn(ts.server.context.pushedEvents, 'publish').mockImplementation(() => {});
      try {
        await push(u, 'tasks', ['unannounced']);
      } finally {
        muted.mockRestore();
      }
      await push(u, 'lists', ['announced']);
      const first = await nextChanges(c);
      expect([first.table, ids(first)]).toEqual(['lists', ['announced']]);
      ts.server.context.pushedEvents.feed.resync();
      const second = await nextChanges(c);
      expect([second.table, ids(second)]).toEqual(['tasks', ['unannounced']]);
    });

    it('refuses what it cannot serve before streaming: 400 and 401 with codes and paths, 405', async () => {
      const u = user();
      const token = await ts.token(u);
      const refused = async (r: StreamRequest, appId = 'todo') => {
        const c = await openSse(ts.url, appId, r);
        expect(c.headers['content-type']).toMatch(/^application\/json/);
        const body = JSON.parse(c.body) as { error: { code: string; path?: string } };
        return [c.status, body.error.code, body.error.path];
      };
      expect(await refused({ query: { collections: 'tasks' } })).toEqual([401, 'UNAUTHORIZED', undefined]);
      expect(await refused({ token: 'not-a-jwt', query: { collections: 'tasks' } })).toEqual([
        401,
        'UNAUTHORIZED',
        undefined,
      ]);
      const expired = await ts.auth.mint(u, { expiresIn: -30 });
      expect(await refused({ token: expired, query: { collections: 'tasks' } })).toEqual([
        401,
        'TOKEN_EXPIRED',
        undefined,
      ]);
      expect(await refused({ token, query: { collections: 'tasks' } }, 'bad%20app')).toEqual([
        400,
        'INVALID_REQUEST',
        'appId',
      ]);
      const bad = (query: StreamRequest['query']) => refused({ token, query });
      expect(await bad({})).toEqual([400, 'INVALID_REQUEST', 'collections']);
      expect(await bad({ collections: '' })).toEqual([400, 'INVALID_REQUEST', 'collections']);
      expect(await bad({ collections: 'tasks,9lives' })).toEqual([400, 'INVALID_REQUEST', 'collections.1']);
      expect(await bad({ collections: 'tasks,,lists' })).toEqual([400, 'INVALID_REQUEST', 'collections.1']);
      expect(await bad({ collections: range('t', 201).join(',') })).toEqual([
        400,
        'INVALID_REQUEST',
        'collections',
      ]);
      expect(await bad({ collections: 'tasks', since: 'yesterday' })).toEqual([
        400,
        'INVALID_REQUEST',
        'since',
      ]);
      expect(await bad({ collections: 'tasks', limit: '0' })).toEqual([400, 'INVALID_REQUEST', 'limit']);
      expect(await refused({ token, clientId: 'bad id', query: { collections: 'tasks' } })).toEqual([
        400,
        'INVALID_REQUEST',
        'X-Client-Id',
      ]);
      expect(await refused({ token, method: 'POST', query: { collections: 'tasks' } })).toEqual([
        405,
        'METHOD_NOT_ALLOWED',
        undefined,
      ]);
      // 200 tables is allowed.
      const wide = await open(u, { collections: range('t', 200).join(',') });
      expect(wide.status).toBe(200);
    });

    it('serves a trusted backend with the service key', async () => {
      const u = user();
      await push(u, 'tasks', ['for-the-backend']);
      const c = await openSse(ts.url, 'todo', {
        query: { collections: 'tasks' },
        headers: { 'x-service-key': SERVICE_KEY, 'x-user-id': u },
      });
      clients.push(c);
      expect(c.status).toBe(200);
      expect(ids(await nextChanges(c))).toEqual(['for-the-backend']);
      const wrong = await openSse(ts.url, 'todo', {
        query: { collections: 'tasks' },
        headers: { 'x-service-key': 'wrong', 'x-user-id': u },
      });
      expect(wrong.status).toBe(401);
    });

    it('caps the open streams of one user (429 TOO_MANY_STREAMS), and frees a slot when one closes', async () => {
      const u = user();
      const three = [];
      for (let i = 0; i < 3; i++) three.push(await open(u, { collections: 'tasks' }));
      const fourth = await open(u, { collections: 'tasks' });
      expect(fourth.status).toBe(429);
      expect(JSON.parse(fourth.body)).toMatchObject({ error: { code: 'TOO_MANY_STREAMS' } });
      expect((await open(user(), { collections: 'tasks' })).status).toBe(200); // others are not affected
      three[0]!.close();
      let again = await open(u, { collections: 'tasks' });
      for (let i = 0; i < 50 && again.status === 429; i++) {
        await sleep(20);
        again = await open(u, { collections: 'tasks' });
      }
      expect(again.status).toBe(200);
      const metrics = parsePromText(await (await fetch(`${ts.url}/metrics`)).text());
      expect(sampleValue(metrics, 'mana_sync_sse_streams_refused_total', {})).toBeGreaterThanOrEqual(1);
    });

    it('ends the stream when the token expires', async () => {
      const u = user();
      const token = await ts.auth.mint(u, { expiresIn: 2 });
      const c = await open(u, { collections: 'tasks' }, { token });
      expect(c.status).toBe(200);
      const startedAt = Date.now();
      await c.ended;
      expect(Date.now() - startedAt).toBeLessThan(4000);
      await expect(c.next(10)).rejects.toThrow(/ended/);
      expect(
        logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'stream ended' && l.userId === u),
      ).toMatchObject({
        reason: 'token-expired',
        appId: 'todo',
      });
    });

    it('forgets a client that goes away: the open-streams gauge and the subscriptions return to 0', async () => {
      const u = user();
      const gauge = async () =>
        sampleValue(
          parsePromText(await (await fetch(`${ts.url}/metrics`)).text()),
          'mana_sync_sse_streams',
          {},
        );
      expect(await gauge()).toBe(0);
      const head = await open(u, { collections: 'tasks' }, { method: 'HEAD' });
      expect([head.status, head.headers['content-type']]).toEqual([200, 'text/event-stream; charset=utf-8']);
      expect(ts.server.context.streams.counts().open).toBe(0); // no stream made for a HEAD
      const a = await open(u, { collections: 'tasks' });
      const b = await open(u, { collections: 'lists' });
      await push(u, 'tasks', ['t']);
      expect(ids(await nextChanges(a))).toEqual(['t']);
      expect(await gauge()).toBe(2);
      expect(ts.server.context.pushedEvents.users).toBe(1);
      const health = (await (await fetch(`${ts.url}/health`)).json()) as { streams: unknown };
      expect(health.streams).toEqual({ open: 2, users: 1 });
      a.close();
      b.close();
      for (let i = 0; i < 100 && (await gauge()) > 0; i++) await sleep(20);
      expect(await gauge()).toBe(0);
      expect(ts.server.context.streams.counts()).toEqual({ open: 0, users: 0 });
      expect(ts.server.context.pushedEvents.users).toBe(0);
      await push(u, 'tasks', ['after']); // nobody left to wake
    });

    it('is counted and logged like pull: route label, request line, blocks and changes sent', async () => {
      const u = user();
      await push(u, 'tasks', range('m', 4));
      const c = await open(
        u,
        { collections: 'tasks', limit: '2' },
        { headers: { 'x-request-id': `req-${u}` } },
      );
      await nextChanges(c);
      await nextChanges(c);
      const metrics = parsePromText(await (await fetch(`${ts.url}/metrics`)).text());
      const route = { method: 'GET', route: '/sync/:appId/stream', status: '200' };
      expect(sampleValue(metrics, 'mana_sync_http_requests_total', route)).toBeGreaterThanOrEqual(1);
      expect(sampleValue(metrics, 'mana_sync_sse_blocks_sent_total', {})).toBeGreaterThanOrEqual(2);
      expect(
        sampleValue(metrics, 'mana_sync_sse_changes_sent_total', { app: 'todo' }),
      ).toBeGreaterThanOrEqual(4);
      const line = logLines
        .map((l) => JSON.parse(l))
        .find((l) => l.msg === 'request' && l.reqId === `req-${u}`);
      expect(line).toMatchObject({ method: 'GET', route: '/sync/:appId/stream', status: 200, userId: u });
    });

    it('stops making pages while a slow reader’s socket is full, and loses nothing once it reads', async () => {
      const u = user();
      const big = 'x'.repeat(64_000);
      for (let b = 0; b < 8; b++) {
        await push(u, 'tasks', range(`big${b}-`, 20), 'phone', 'todo', () => big);
      }
      const blocks = async () =>
        sampleValue(
          parsePromText(await (await fetch(`${ts.url}/metrics`)).text()),
          'mana_sync_sse_blocks_sent_total',
          {},
        );
      const before = await blocks();
      // 160 records of 64 kB in pages of 2: 80 pages, about 10 MB, far more than the socket buffers hold.
      const c = await open(u, { collections: 'tasks', limit: '2' });
      c.pause();
      let sent = await blocks();
      for (let stable = 0; stable < 5; ) {
        await sleep(100);
        const now = await blocks();
        stable = now === sent ? stable + 1 : 0;
        sent = now;
      }
      expect(sent - before).toBeLessThan(60);
      c.resume();
      const seen: string[] = [];
      for (let more = true; more; ) {
        const page = await nextChanges(c);
        seen.push(...ids(page));
        more = page.hasMore;
      }
      expect(seen).toHaveLength(160);
      expect(new Set(seen).size).toBe(160);
    });
  });

  describe(`the SSE stream's heartbeat, rate limit and shutdown on ${name}`, () => {
    it('sends heartbeats, takes the rate limit, and ends on shutdown before the server waits for connections', async () => {
      const db = await makeDb();
      const ts = await startTestServer(db, { sseHeartbeatMs: 100, rateLimitPerSecond: 1, rateLimitBurst: 1 });
      try {
        const token = await ts.token('hb');
        const c = await openSse(ts.url, 'todo', { token, query: { collections: 'tasks' } });
        expect(c.status).toBe(200);
        expect(await c.next(2000)).toEqual({ type: 'heartbeat', data: '{}' });
        expect(await c.next(2000)).toEqual({ type: 'heartbeat', data: '{}' });
        const limited = await openSse(ts.url, 'todo', { token, query: { collections: 'tasks' } });
        expect(limited.status).toBe(429);
        expect(limited.headers['retry-after']).toBeDefined();
        expect(JSON.parse(limited.body)).toMatchObject({ error: { code: 'RATE_LIMITED' } });
        const startedAt = Date.now();
        await ts.close(); // its grace is 2 s: a stream left open would hold it that long
        expect(Date.now() - startedAt).toBeLessThan(1500);
        await c.ended;
      } finally {
        await ts.close().catch(() => {});
        await db.drop();
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
