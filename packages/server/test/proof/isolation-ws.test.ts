import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';
import { fcParams, report, timeoutFor } from './proof-runs.js';

/**
 * Isolation on WebSockets: a socket hears about its own user's pushes only — whatever
 * clientId it declares, whichever route (unified /ws or legacy /ws/{appId}), and a token
 * for another user cannot be swapped in on an open socket.
 */
let probes = 0;

/** Every sync-available a socket received until it answered a ping (the server handles messages in order). */
async function drain(sock: TestSocket): Promise<Array<{ appId: string; tables: string[] }>> {
  sock.send({ type: 'ping' });
  const got: Array<{ appId: string; tables: string[] }> = [];
  for (;;) {
    const m = await sock.next(5000);
    if (m.type === 'pong') return got;
    if (m.type === 'sync-available') got.push({ appId: m.appId, tables: m.tables });
  }
}

describe('isolation on WebSockets', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite());
  });
  afterAll(async () => {
    await ts?.close();
    report('isolation-ws', { probes });
  });

  const push = async (user: string, appId: string, clientId: string, id: string) => {
    probes++;
    const res = await ts.push(user, appId, {
      clientId,
      changes: [
        {
          table: 'tasks',
          id,
          op: 'update',
          fields: { v: { value: id, updatedAt: new Date().toISOString() } },
        },
      ],
    });
    expect(res.status).toBe(200);
  };

  it('a socket is never notified of another user’s push, even with the pusher’s clientId', async () => {
    const bobUnified = await openSocket(ts.url, '/ws');
    await bobUnified.auth(await ts.token('bob'), 'alice-phone'); // claims Alice's client id
    const bobLegacy = await openSocket(ts.url, '/ws/todo');
    await bobLegacy.auth(await ts.token('bob'));
    const alice = await openSocket(ts.url, '/ws');
    await alice.auth(await ts.token('alice'), 'alice-laptop');

    await push('alice', 'todo', 'alice-phone', 'a1');
    // Alice's other device hears it (the control: notifications do flow) …
    expect(await drain(alice)).toEqual([{ appId: 'todo', tables: ['tasks'] }]);
    // … Bob's sockets, which answered a ping sent after, heard nothing.
    expect(await drain(bobUnified)).toEqual([]);
    expect(await drain(bobLegacy)).toEqual([]);
    probes += 3;
    for (const s of [bobUnified, bobLegacy, alice]) s.close();
  });

  it('a token for another user cannot be swapped in on an open socket', async () => {
    const sock = await openSocket(ts.url, '/ws');
    await sock.auth(await ts.token('mallory'));
    sock.send({ type: 'auth', token: await ts.token('victim') });
    const closed = await sock.closed;
    probes++;
    expect(closed.code).toBe(4001);
  });

  const params = fcParams(25);
  it(
    'random pushes by two users over unified and legacy sockets: each hears only their own',
    async () => {
      const pushArb = fc.record({ user: fc.constantFrom(0, 1), app: fc.constantFrom('todo', 'notes') });
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(pushArb, { minLength: 1, maxLength: 8 }), async (pushes) => {
          const users = [`ws-iso-a-${run}`, `ws-iso-b-${run++}`];
          const socks = await Promise.all(
            [0, 1].flatMap((u) =>
              ['/ws', '/ws/todo'].map(async (path) => {
                const s = await openSocket(ts.url, path);
                await s.auth(await ts.token(users[u]!));
                return { u, path, s };
              }),
            ),
          );
          try {
            for (const [i, p] of pushes.entries()) await push(users[p.user]!, p.app, `pusher-${i}`, `r${i}`);
            for (const { u, path, s } of socks) {
              probes++;
              const heard = await drain(s);
              const expectedApps = new Set(
                pushes.filter((p) => p.user === u && (path === '/ws' || p.app === 'todo')).map((p) => p.app),
              );
              // Notifications may be coalesced, so compare the set of apps heard about.
              expect(new Set(heard.map((h) => h.appId))).toEqual(expectedApps);
            }
          } finally {
            for (const { s } of socks) s.close();
          }
        }),
        params,
      );
    },
    timeoutFor(params.numRuns, 1000),
  );
});
