import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelName } from '../../src/realtime/attach.js';
import { freshPgSchema, TEST_DATABASE_URL, type TestDatabase } from '../helpers/databases.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';

/**
 * Two instances in one process on one PostgreSQL schema: what reaches the other instance
 * travelled through LISTEN/NOTIFY (an instance's own events are delivered locally and its own
 * NOTIFYs skipped, so B can only hear A's pushes through the database).
 */
describe.skipIf(!TEST_DATABASE_URL)('fan-out across instances over LISTEN/NOTIFY', () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  const sockets: TestSocket[] = [];
  let n = 0;
  const user = () => `x${++n}-${Math.random().toString(36).slice(2, 8)}`;
  let stamp = Date.parse('2024-01-01T00:00:00Z');

  beforeAll(async () => {
    db = await freshPgSchema();
    a = await startTestServer(db);
    b = await startTestServer(db, { jwksUrl: a.auth.jwksUrl }); // one auth service for both
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const socketOn = async (ts: TestServer, userId: string, path = '/ws', clientId?: string) => {
    const s = await openSocket(ts.url, path);
    sockets.push(s);
    await s.auth(await a.token(userId), clientId);
    return s;
  };
  const push = async (ts: TestServer, userId: string, appId: string, tables: string[], clientId = 'p') => {
    stamp += 1000;
    const res = await a.auth.mint(userId).then((token) =>
      fetch(`${ts.url}/sync/${appId}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          clientId,
          changes: tables.map((table) => ({
            table,
            id: `r${stamp}`,
            op: 'insert',
            fields: { title: { value: 'x', updatedAt: new Date(stamp).toISOString() } },
          })),
        }),
      }),
    );
    expect(res.status).toBe(200);
  };

  it('a push through A reaches sockets on B (unified and legacy), for that user only', async () => {
    const u = user();
    const other = user();
    const unified = await socketOn(b, u);
    const legacy = await socketOn(b, u, '/ws/todo');
    const stranger = await socketOn(b, other);
    await push(a, u, 'notes', ['pages']);
    await push(a, u, 'todo', ['tasks']);
    expect(await unified.next()).toEqual({ type: 'sync-available', appId: 'notes', tables: ['pages'] });
    expect(await unified.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['tasks'] });
    expect(await legacy.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['tasks'] });
    await push(a, other, 'todo', ['own']);
    expect(await stranger.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['own'] });
  });

  it('measures the fan-out delay on the instance that hears the batch, not on the one that sent it', async () => {
    const delays = async (ts: TestServer) => {
      const p = parsePromText(await (await fetch(`${ts.url}/metrics`)).text());
      return {
        count: sampleValue(p, 'mana_sync_fanout_delay_seconds_count'),
        sum: sampleValue(p, 'mana_sync_fanout_delay_seconds_sum'),
      };
    };
    const [onA, onB] = [await delays(a), await delays(b)];
    const u = user();
    const s = await socketOn(b, u);
    const before = Date.now();
    await push(a, u, 'todo', ['tasks']);
    expect(await s.next()).toMatchObject({ appId: 'todo', tables: ['tasks'] });
    const heardAfter = (Date.now() - before) / 1000;
    const [afterA, afterB] = [await delays(a), await delays(b)];
    expect(afterB.count - onB.count).toBe(1);
    // The delay lies within the push's round trip to B's socket (same clock here).
    expect(afterB.sum - onB.sum).toBeGreaterThanOrEqual(0);
    expect(afterB.sum - onB.sum).toBeLessThanOrEqual(heardAfter + 0.01);
    expect(afterA).toEqual(onA); // A skips its own NOTIFY
  });

  it('suppresses the echo across instances too', async () => {
    const u = user();
    const mine = await socketOn(b, u, '/ws', 'phone');
    const laptop = await socketOn(b, u, '/ws', 'laptop');
    await push(a, u, 'todo', ['tasks'], 'phone');
    expect(await laptop.next()).toMatchObject({ appId: 'todo', tables: ['tasks'] });
    await push(a, u, 'todo', ['lists'], 'laptop');
    expect(await mine.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['lists'] });
  });

  it('splits a batch larger than a NOTIFY payload and loses no table', async () => {
    const u = user();
    const s = await socketOn(b, u);
    const tables = Array.from({ length: 150 }, (_, i) => `t${i}_${'x'.repeat(100)}`); // ~16 kB of names
    await push(a, u, 'todo', tables);
    const heard = new Set<string>();
    while (heard.size < tables.length) {
      const m = await s.next();
      expect(m).toMatchObject({ type: 'sync-available', appId: 'todo' });
      if (m.type === 'sync-available') for (const t of m.tables) heard.add(t);
    }
    expect([...heard].sort()).toEqual([...tables].sort());
  });

  it('after a lost LISTEN connection, tells every socket to pull what its user has, then hears again', async () => {
    const u = user();
    const unified = await socketOn(b, u);
    const legacy = await socketOn(b, u, '/ws/notes');
    // Drain the ordinary notifications first, so that what follows can only be the resync.
    await push(a, u, 'todo', ['tasks']);
    expect(await unified.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['tasks'] });
    await push(a, u, 'notes', ['pages']);
    expect(await unified.next()).toEqual({ type: 'sync-available', appId: 'notes', tables: ['pages'] });
    expect(await legacy.next()).toEqual({ type: 'sync-available', appId: 'notes', tables: ['pages'] });
    const admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const killed = await admin`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = ${`mana-sync-fanout:${channelName('mana_sync', db.options.schema)}`}
          AND query ILIKE 'listen%'`;
      expect(killed.length).toBe(2); // A's and B's LISTEN connections
    } finally {
      await admin.end();
    }
    const got = [await unified.next(10_000), await unified.next()];
    got.sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    expect(got).toEqual([
      { type: 'sync-available', appId: 'notes', tables: ['pages'] },
      { type: 'sync-available', appId: 'todo', tables: ['tasks'] },
    ]);
    expect(await legacy.next()).toEqual({ type: 'sync-available', appId: 'notes', tables: ['pages'] });
    await push(a, u, 'notes', ['drafts']);
    expect(await legacy.next()).toEqual({ type: 'sync-available', appId: 'notes', tables: ['drafts'] });
  });
});
