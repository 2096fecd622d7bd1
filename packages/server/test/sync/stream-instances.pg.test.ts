import { type StreamChanges, streamChangesSchema } from '@mana/sync-protocol';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { channelName } from '../../src/realtime/attach.js';
import { freshPgSchema, TEST_DATABASE_URL, type TestDatabase } from '../helpers/databases.js';
import { openSse, type SseClient } from '../helpers/sse-client.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * Two instances in one process on one PostgreSQL schema (as behind a load balancer): a push
 * through A reaches a stream on B only through LISTEN/NOTIFY (an instance skips its own
 * NOTIFYs), and a lost LISTEN connection makes B's streams pull what they follow.
 */
describe.skipIf(!TEST_DATABASE_URL)('the SSE stream across instances over LISTEN/NOTIFY', () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  const clients: SseClient[] = [];
  let n = 0;
  const user = () => `x${++n}-${Math.random().toString(36).slice(2, 8)}`;
  let stamp = Date.parse('2024-01-01T00:00:00Z');

  beforeAll(async () => {
    db = await freshPgSchema();
    a = await startTestServer(db);
    b = await startTestServer(db, { jwksUrl: a.auth.jwksUrl }); // one auth service for both
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const streamOn = async (ts: TestServer, userId: string, collections: string, clientId?: string) => {
    const c = await openSse(ts.url, 'todo', {
      token: await a.auth.mint(userId),
      clientId,
      query: { collections },
    });
    clients.push(c);
    expect(c.status).toBe(200);
    return c;
  };
  const push = async (ts: TestServer, userId: string, table: string, id: string, clientId = 'phone') => {
    stamp += 1000;
    const res = await fetch(`${ts.url}/sync/todo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await a.auth.mint(userId)}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId,
        changes: [
          {
            table,
            id,
            op: 'update',
            fields: { title: { value: id, updatedAt: new Date(stamp).toISOString() } },
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
  };
  const nextChanges = async (c: SseClient, timeoutMs?: number): Promise<StreamChanges> => {
    const block = await c.next(timeoutMs);
    expect(block.type).toBe('changes');
    return streamChangesSchema.parse(JSON.parse(block.data));
  };
  const summary = (p: StreamChanges) => [p.table, p.changes.map((ch) => ch.id)];

  it('a push through A reaches the stream on B; the stream’s own client does not wake it', async () => {
    const u = user();
    const s = await streamOn(b, u, 'tasks,lists', 'laptop');
    await push(a, u, 'tasks', 't1');
    expect(summary(await nextChanges(s))).toEqual(['tasks', ['t1']]);
    await push(a, u, 'tasks', 'own', 'laptop');
    await push(a, user(), 'lists', 'stranger');
    await push(a, u, 'lists', 'l1');
    expect(summary(await nextChanges(s))).toEqual(['lists', ['l1']]);
  });

  it('after a lost LISTEN connection, the stream on B pulls what it follows, then hears again', async () => {
    const u = user();
    const s = await streamOn(b, u, 'tasks', 'laptop');
    // A push whose event B never hears: A publishes nothing for it.
    const muted = vi.spyOn(a.server.context.pushedEvents, 'publish').mockImplementation(() => {});
    try {
      await push(a, u, 'tasks', 'missed');
    } finally {
      muted.mockRestore();
    }
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
    expect(summary(await nextChanges(s, 15_000))).toEqual(['tasks', ['missed']]);
    await push(a, u, 'tasks', 'heard');
    expect(summary(await nextChanges(s, 10_000))).toEqual(['tasks', ['heard']]);
  });
});
