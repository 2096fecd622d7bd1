import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * Real server, real tokens; the log lines are read from a pino destination stream. One server
 * (PGlite start-up is the slow part) serves both the log checks and the service-key checks.
 */
const SERVICE_KEY = 'svc-0123456789abcdef0123456789abcdef';
const SECRET_VALUE = 'SECRET-RECORD-CONTENT-7f3a';

type Line = Record<string, unknown>;

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  let rest = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      const parts = (rest + String(chunk)).split('\n');
      rest = parts.pop()!;
      lines.push(...parts.filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

const push = (id: string, value: string) => ({
  clientId: 'c1',
  changes: [
    { table: 'notes', id, op: 'insert', fields: { body: { value, updatedAt: '2026-01-01T00:00:00Z' } } },
  ],
});

describe('request logs and service auth', () => {
  let t: TestServer;
  const log = capture();
  const parsed = () => log.lines.map((l) => JSON.parse(l) as Line);
  const requestLine = (reqId: string) => parsed().find((l) => l.msg === 'request' && l.reqId === reqId);

  beforeAll(async () => {
    t = await startTestServer(
      await memoryPglite(),
      { serviceKey: SERVICE_KEY },
      { logger: createLogger('info', { destination: log.stream }) },
    );
  });
  afterAll(() => t.close());

  it('writes one JSON line per request with the request id (given ids honoured and echoed)', async () => {
    const res = await t.push('alice', 'notes', push('n1', SECRET_VALUE));
    expect(res.status).toBe(200);
    const generated = res.headers.get('x-request-id')!;
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);

    const given = 'trace-abc.123';
    const pulled = await t.pull('alice', 'notes', { collection: 'notes' }, { 'x-request-id': given });
    expect(pulled.headers.get('x-request-id')).toBe(given);
    // A request id that is not safe to log is replaced, not echoed.
    const unsafe = await t.pull('alice', 'notes', { collection: 'notes' }, { 'x-request-id': 'a b\tc' });
    expect(unsafe.headers.get('x-request-id')).not.toBe('a b\tc');

    const line = requestLine(given)!;
    expect(line).toMatchObject({
      method: 'GET',
      route: '/sync/:appId/pull',
      status: 200,
      userId: 'alice',
      appId: 'notes',
      via: 'jwt',
      service: 'mana-sync',
    });
    expect(typeof line.ms).toBe('number');
    expect(requestLine(generated)).toMatchObject({ route: '/sync/:appId', status: 200, userId: 'alice' });
    expect(parsed().filter((l) => l.reqId === given && l.msg === 'request')).toHaveLength(1);
  });

  it('acts for X-User-Id with the service key, and logs every use', async () => {
    const res = await fetch(`${t.url}/sync/notes`, {
      method: 'POST',
      headers: { 'x-service-key': SERVICE_KEY, 'x-user-id': 'bob', 'content-type': 'application/json' },
      body: JSON.stringify(push('from-backend', 'hello')),
    });
    expect(res.status).toBe(200);
    const reqId = res.headers.get('x-request-id')!;
    // The write landed in bob's data: bob sees it with his own token, alice does not.
    const bob = (await (await t.pull('bob', 'notes', { collection: 'notes' })).json()) as {
      serverChanges: Array<{ id: string }>;
    };
    expect(bob.serverChanges.map((c) => c.id)).toEqual(['from-backend']);
    const alice = (await (await t.pull('alice', 'notes', { collection: 'notes' })).json()) as {
      serverChanges: Array<{ id: string }>;
    };
    expect(alice.serverChanges.map((c) => c.id)).toEqual(['n1']);

    expect(parsed().find((l) => l.reqId === reqId && l.msg === 'service key used')).toMatchObject({
      userId: 'bob',
    });
    expect(requestLine(reqId)).toMatchObject({ via: 'service', userId: 'bob', status: 200 });
  });

  it('refuses a wrong service key (any length) or a missing user id with 401, and logs the refusal', async () => {
    const tries: Array<Record<string, string>> = [
      { 'x-service-key': `${SERVICE_KEY.slice(0, -1)}0`, 'x-user-id': 'bob' },
      { 'x-service-key': 'short', 'x-user-id': 'bob' },
      { 'x-service-key': '', 'x-user-id': 'bob' },
      { 'x-service-key': SERVICE_KEY },
    ];
    for (const headers of tries) {
      const res = await fetch(`${t.url}/sync/notes/pull?collection=notes`, { headers });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code).toBe('UNAUTHORIZED');
      const reqId = res.headers.get('x-request-id')!;
      expect(parsed().find((l) => l.reqId === reqId && l.msg === 'service key refused')).toBeDefined();
    }
  });

  it('never writes a token, the service key or record contents into the log', async () => {
    const token = await t.token('alice');
    await t.request(null, '/sync/notes/pull?collection=notes', {
      headers: { authorization: `Bearer ${token}x` },
    });
    expect(log.lines.length).toBeGreaterThan(8);
    const all = log.lines.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]!); // not even the signature
    expect(all).not.toContain(SERVICE_KEY);
    expect(all).not.toContain(SERVICE_KEY.slice(0, -1));
    expect(all).not.toContain(SECRET_VALUE);
    expect(all).not.toContain('hello');
  });
});

describe('service auth when MANA_SERVICE_KEY is unset', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(await memoryPglite());
  });
  afterAll(() => t.close());

  it('refuses the header with 401 and says service auth is off', async () => {
    const res = await fetch(`${t.url}/sync/notes/pull?collection=notes`, {
      headers: { 'x-service-key': SERVICE_KEY, 'x-user-id': 'bob' },
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(body.error.message).toMatch(/service auth is not enabled/);
  });
});
