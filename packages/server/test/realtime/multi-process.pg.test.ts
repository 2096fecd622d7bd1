import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startServeProcess } from '../cli/serve-process.js';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';
import { freshPgSchema, TEST_DATABASE_URL, type TestDatabase } from '../helpers/databases.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';

/**
 * Two `mana-sync serve` processes, stateless, on one PostgreSQL (as behind a load balancer):
 * a push through either reaches the user's sockets on the other.
 */
describe.skipIf(!TEST_DATABASE_URL)('two server processes on one PostgreSQL', () => {
  let db: TestDatabase;
  let auth: AuthService;
  const procs: ServeProcess[] = [];
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    db = await freshPgSchema();
    auth = await startAuthService();
    const env = {
      DATABASE_URL: db.options.databaseUrl!,
      DATABASE_SCHEMA: db.options.schema!,
      JWKS_URL: auth.jwksUrl,
      RATE_LIMIT_RPS: '0',
      MANA_SYNC_DEV_AUTH: '0',
    };
    // One after the other: the first applies the migrations.
    procs.push(await startServeProcess(['serve'], env, 60_000));
    procs.push(await startServeProcess(['serve'], env, 60_000));
  }, 150_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await Promise.all(procs.map((p) => p.stop()));
    await auth?.close();
    await db?.drop();
  });

  const push = async (url: string, userId: string, table: string, clientId: string) => {
    const res = await fetch(`${url}/sync/todo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await auth.mint(userId)}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId,
        changes: [
          { table, id: 'r1', op: 'insert', fields: { t: { value: 1, updatedAt: new Date().toISOString() } } },
        ],
      }),
    });
    expect(res.status).toBe(200);
  };

  it('a push through instance A reaches a socket on instance B, and back', async () => {
    const [a, b] = procs as [ServeProcess, ServeProcess];
    expect(a.url).not.toBe(b.url);
    const onB = await openSocket(b.url, '/ws');
    const onA = await openSocket(a.url, '/ws/todo');
    sockets.push(onA, onB);
    await onB.auth(await auth.mint('alice'), 'browser-b');
    await onA.auth(await auth.mint('alice'), 'browser-a');

    await push(a.url, 'alice', 'tasks', 'browser-a');
    expect(await onB.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['tasks'] });
    await push(b.url, 'alice', 'lists', 'browser-b');
    expect(await onA.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['lists'] });

    const health = (await (await fetch(`${b.url}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({
      status: 'ok',
      fanout: 'postgres',
      websockets: { connections: 1, users: 1 },
    });
  });
});
