import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../server/src/logger.js';
import { type RunningServer, startServer as startManaSync } from '../../server/src/server.js';
import { freshPgSchema, TEST_DATABASE_URL, type TestDatabase } from '../../server/test/helpers/databases.js';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import type { GetTokenOptions, WebSocketConstructor } from '../src/index.js';
import { attach, eventually, newDevice, startServer, waitForStatus } from './helpers/harness.js';
import { startStallProxy } from './helpers/stall-proxy.js';

const WS = WebSocket as unknown as WebSocketConstructor;

describe('network and auth failures', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('refreshes an expired token through getToken() once, then carries on', async () => {
    const calls: GetTokenOptions[] = [];
    const expired = await server.auth.mint('u-token', { expiresIn: -30 });
    const fresh = await server.auth.mint('u-token', { expiresIn: 3600 });
    const db = newDevice().open();
    const client = attach(db, server, 'u-token', {
      getToken: (o) => {
        calls.push(o);
        return calls.length === 1 ? expired : fresh;
      },
    });
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    await db.todos.add({ id: 'tk', title: 'after refresh', done: false });
    await client.sync();
    await client.sync();
    expect(client.status).toMatchObject({ state: 'synced', pending: 0, lastError: null });
    expect(calls).toEqual([{ forceRefresh: false }, { forceRefresh: true }]);
    await client.stop();
  });

  it('renews a 5 s token at half its lifetime: a handful of getToken calls in 20 s, never forced without a 401', async () => {
    const calls: GetTokenOptions[] = [];
    let refusals = 0;
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (res.status === 401) refusals++;
      return res;
    };
    const db = newDevice().open();
    const client = attach(db, server, 'u-short-token', {
      WebSocket: WS,
      fetch: counting,
      pullIntervalMs: 250,
      // The default margin (60 s) is longer than the token: half its lifetime (2.5 s) applies.
      getToken: async (o) => {
        calls.push(o);
        return server.auth.mint('u-short-token', { expiresIn: 5 });
      },
    });
    await client.start();
    // 20 s of use: a write every half second, a pull every quarter, the socket open throughout.
    const until = Date.now() + 20_000;
    for (let n = 0; Date.now() < until; n++) {
      await db.todos.put({ id: `w${n % 4}`, title: `write ${n}`, done: false });
      await new Promise((r) => setTimeout(r, 500));
    }
    await client.sync();
    expect(client.status).toMatchObject({ state: 'synced', realtime: true, lastError: null });
    // One call at start, then at most one per 2.5 s: 9. The client before this fix made ~27.
    expect(calls.length).toBeGreaterThanOrEqual(5);
    expect(calls.length).toBeLessThanOrEqual(10);
    expect(refusals).toBe(0);
    expect(calls.filter((c) => c.forceRefresh)).toEqual([]);
    await client.stop();
  }, 30_000);

  it('a refused fresh token puts the client into error, with no retry loop', async () => {
    let calls = 0;
    const db = newDevice().open();
    const client = attach(db, server, 'u-refused', {
      getToken: () => {
        calls++;
        return 'not.a.token';
      },
      pullIntervalMs: 100,
    });
    await client.start();
    const s = await waitForStatus(client, (st) => st.state === 'error');
    expect(s.lastError?.code).toBe('AUTH_REFUSED');
    expect(calls).toBe(2);
    // Writes keep being accepted and queued, and nothing hammers the server or getToken().
    await db.todos.add({ id: 'queued', title: 'written while signed out', done: false });
    await new Promise((r) => setTimeout(r, 1000));
    expect(calls).toBe(2);
    expect(client.status).toMatchObject({ state: 'error', pending: 1 });
    await client.stop({ flush: false });
  });

  it('detects a stall (pushes unanswered while connected), reports it, and recovers', async () => {
    const proxy = await startStallProxy(server.url);
    const db = newDevice().open();
    const client = attach(db, { url: proxy.url, token: server.token }, 'u-stall', { stallTimeoutMs: 800 });
    client.on('status', () => {});
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    proxy.holdPushes = true;
    await db.todos.add({ id: 'st', title: 'stuck', done: false });
    const stalled = await waitForStatus(client, (s) => s.state === 'error', 5000);
    expect(stalled.lastError?.code).toBe('STALLED');
    expect(stalled.pending).toBe(1);
    expect(proxy.held()).toBeGreaterThan(0);
    proxy.holdPushes = false;
    await waitForStatus(client, (s) => s.state === 'synced' && s.pending === 0, 10_000);
    expect(client.status.lastError).toBeNull();
    await client.stop();
    await proxy.close();
  });
});

describe('a server restart in the middle of a sync', () => {
  // A database that outlives the server process: PostgreSQL when there is one (fast), else
  // PGlite in a directory (its first start is slow).
  let dir: string;
  let pg: TestDatabase | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mana-sync-restart-'));
    if (TEST_DATABASE_URL) pg = await freshPgSchema();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await pg?.drop();
  });

  const boot = (port: number) =>
    startManaSync({
      config: {
        port,
        host: '127.0.0.1',
        dataDir: dir,
        devAuth: true,
        rateLimitPerSecond: 0,
        logLevel: 'silent',
        ...(pg ? { databaseUrl: pg.options.databaseUrl } : {}),
      },
      ...(pg?.options.schema ? { schema: pg.options.schema } : {}),
      logger: createLogger('silent'),
    });

  it('loses nothing: every write reaches the other client once the server is back', async () => {
    let running: RunningServer = await boot(0);
    const port = running.port;
    const token = (user: string) => running.context.devIssuer!.mint(user, 3600);
    const target = { url: running.url, token };
    const a = newDevice().open();
    const b = newDevice().open();
    const rt = { WebSocket: WS, pullIntervalMs: 3_600_000, retryBackoff: { baseMs: 200, maxMs: 1000 } };
    const ca = attach(a, target, 'u-restart', { ...rt, pushBatchSize: 25 });
    const cb = attach(b, target, 'u-restart', rt);
    await ca.start();
    await cb.start();
    const todos = Array.from({ length: 2000 }, (_, i) => ({
      id: `r${String(i).padStart(4, '0')}`,
      title: `n${i}`,
      done: false,
    }));
    await a.todos.bulkAdd(todos);
    // Let some batches through, then pull the plug mid-sync.
    const queued = () => a.table('_manaSyncOutbox').count();
    await eventually(async () => expect(await queued()).toBeLessThan(2000), 10_000, 2);
    await running.close(0);
    const pendingAtCrash = await queued();
    await a.todos.update('r0000', { title: 'edited while the server was down' });
    await new Promise((r) => setTimeout(r, 300));
    running = await boot(port);
    await eventually(() => expect(ca.status).toMatchObject({ state: 'synced', pending: 0 }), 20_000);
    await cb.sync();
    const got = await b.todos.orderBy('id').toArray();
    expect(got).toHaveLength(2000);
    expect(got[0]).toEqual({ id: 'r0000', title: 'edited while the server was down', done: false });
    expect(got.slice(1)).toEqual(todos.slice(1));
    expect(pendingAtCrash).toBeGreaterThan(0);
    // Both sockets came back by themselves: a new write reaches B with no sync() call.
    await waitForStatus(cb, (st) => st.realtime, 20_000);
    await a.todos.add({ id: 'after-restart', title: 'notified', done: false });
    await eventually(async () => expect(await b.todos.get('after-restart')).toBeTruthy(), 10_000);
    await ca.stop();
    await cb.stop();
    await running.close(0);
  }, 60_000);
});
