import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPgSchema, TEST_DATABASE_URL, type TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';
import { startTcpProxy, type TcpProxy } from '../proof/faults/tcp-proxy.js';

/**
 * PostgreSQL cut away from one instance (a TCP proxy resets its connections and refuses new
 * ones), then restored: that instance's fan-out must come back on its own, tell its sockets
 * to pull (events were missed meanwhile), and carry notifications both ways again.
 */
describe.skipIf(!TEST_DATABASE_URL)('fan-out survives a PostgreSQL outage on one instance', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let direct: TestServer;
  let cut: TestServer; // reaches PostgreSQL through the proxy only
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    db = await freshPgSchema();
    const target = new URL(TEST_DATABASE_URL!);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.options.databaseUrl!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    direct = await startTestServer(db);
    cut = await startTestServer(
      { ...db, options: { ...db.options, databaseUrl: viaProxy.toString() } },
      { jwksUrl: direct.auth.jwksUrl },
    );
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await direct?.close();
    await cut?.close();
    await proxy?.close();
    await db?.drop();
  });

  let stamp = Date.parse('2024-01-01T00:00:00Z');
  const push = async (ts: TestServer, userId: string, table: string, clientId: string) => {
    stamp += 1000;
    return fetch(`${ts.url}/sync/todo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await direct.token(userId)}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId,
        changes: [
          {
            table,
            id: `r${stamp}`,
            op: 'insert',
            fields: { t: { value: 1, updatedAt: new Date(stamp).toISOString() } },
          },
        ],
      }),
    });
  };
  /** Retries a push until the instance answers 200 again (its pool comes back after the outage). */
  const pushUntilOk = async (ts: TestServer, userId: string, table: string, clientId: string) => {
    for (let i = 0; i < 100; i++) {
      const res = await push(ts, userId, table, clientId);
      await res.arrayBuffer();
      if (res.status === 200) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('push never succeeded after the outage');
  };

  it('resyncs the cut instance’s sockets and carries notifications both ways afterwards', async () => {
    const onCut = await openSocket(cut.url, '/ws');
    const onDirect = await openSocket(direct.url, '/ws');
    sockets.push(onCut, onDirect);
    await onCut.auth(await direct.token('carol'), 'cut-client');
    await onDirect.auth(await direct.token('carol'), 'direct-client');
    await pushUntilOk(direct, 'carol', 'before', 'direct-client');
    expect(await onCut.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['before'] });

    proxy.cut();
    // Missed by the cut instance: its LISTEN connection is gone.
    await pushUntilOk(direct, 'carol', 'during', 'direct-client');
    await new Promise((r) => setTimeout(r, 1500));
    proxy.restore();

    // Back: the cut instance tells its socket to pull everything carol has.
    const resync = await onCut.next(30_000);
    expect(resync).toMatchObject({ type: 'sync-available', appId: 'todo' });
    expect(resync.type === 'sync-available' && [...resync.tables].sort()).toEqual(['before', 'during']);

    // And notifications flow both ways again.
    await pushUntilOk(direct, 'carol', 'after1', 'direct-client');
    expect(await onCut.next(10_000)).toEqual({ type: 'sync-available', appId: 'todo', tables: ['after1'] });
    await pushUntilOk(cut, 'carol', 'after2', 'cut-client');
    expect(await onDirect.next(10_000)).toEqual({
      type: 'sync-available',
      appId: 'todo',
      tables: ['after2'],
    });
  });
});
