import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Every 4xx (and the 503) a client can meet, each with its machine-readable code. */
describe('error responses', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(await memoryPglite(), { rateLimitPerSecond: 1, rateLimitBurst: 3 });
  });
  afterAll(() => s?.close());

  const ok = { clientId: 'c', changes: [] };
  let n = 0;
  const fresh = () => `e${++n}`;

  async function expectError(res: Response, status: number, code: string, path?: string) {
    const text = await res.text();
    expect(res.status, text).toBe(status);
    const body = JSON.parse(text) as { error: { code: string; message: string; path?: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
    if (path !== undefined) expect(body.error.path).toBe(path);
    return res;
  }

  it('400 BAD_JSON for a body that is not JSON', async () => {
    await expectError(await s.push(fresh(), 'todo', '{"clientId": '), 400, 'BAD_JSON');
  });

  it.each([
    ['no clientId', { changes: [] }, 'clientId'],
    ['changes not an array', { clientId: 'c', changes: {} }, 'changes'],
    ['unknown op', { clientId: 'c', changes: [{ table: 't', id: 'a', op: 'upsert' }] }, 'changes.0.op'],
    ['id as a number', { clientId: 'c', changes: [{ table: 't', id: 7, op: 'insert' }] }, 'changes.0.id'],
    [
      'table with a slash',
      { clientId: 'c', changes: [{ table: '../etc', id: 'a', op: 'insert' }] },
      'changes.0.table',
    ],
    ['empty record id', { clientId: 'c', changes: [{ table: 't', id: '', op: 'insert' }] }, 'changes.0.id'],
    [
      'record id too long',
      { clientId: 'c', changes: [{ table: 't', id: 'x'.repeat(300), op: 'insert' }] },
      'changes.0.id',
    ],
    [
      '__proto__ field',
      {
        clientId: 'c',
        changes: [{ table: 't', id: 'a', op: 'insert', data: JSON.parse('{"__proto__": 1}') }],
      },
      'changes.0.data.__proto__',
    ],
    [
      'NUL in a value',
      { clientId: 'c', changes: [{ table: 't', id: 'a', op: 'insert', data: { title: 'a\u0000b' } }] },
      'changes.0.data.title',
    ],
    [
      'bad timestamp',
      {
        clientId: 'c',
        changes: [{ table: 't', id: 'a', op: 'update', fields: { f: { value: 1, updatedAt: 'soon' } } }],
      },
      'changes.0.fields.f.updatedAt',
    ],
    ['bad since', { clientId: 'c', since: 'yesterday', changes: [] }, 'since'],
    ['body is an array', [], ''],
  ])('400 INVALID_REQUEST with a path: %s', async (_name, body, path) => {
    await expectError(await s.push(fresh(), 'todo', body), 400, 'INVALID_REQUEST', path || undefined);
  });

  it('400 for too deep a value', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200; i++) deep = [deep];
    const body = { clientId: 'c', changes: [{ table: 't', id: 'a', op: 'insert', data: { deep } }] };
    await expectError(await s.push(fresh(), 'todo', body), 400, 'INVALID_REQUEST', 'changes.0.data.deep');
  });

  it('400 for a bad app id, pull query or X-Client-Id', async () => {
    await expectError(await s.push(fresh(), 'to do!', ok), 400, 'INVALID_REQUEST', 'appId');
    await expectError(await s.pull(fresh(), 'todo', {}), 400, 'INVALID_REQUEST', 'collection');
    await expectError(
      await s.pull(fresh(), 'todo', { collection: 't', since: 'x' }),
      400,
      'INVALID_REQUEST',
      'since',
    );
    await expectError(
      await s.pull(fresh(), 'todo', { collection: 't', limit: '0' }),
      400,
      'INVALID_REQUEST',
      'limit',
    );
    await expectError(
      await s.pull(fresh(), 'todo', { collection: 't', limit: '10001' }),
      400,
      'INVALID_REQUEST',
      'limit',
    );
    await expectError(
      await s.pull(fresh(), 'todo', { collection: 't', limit: 'ten' }),
      400,
      'INVALID_REQUEST',
      'limit',
    );
    await expectError(
      await s.pull(fresh(), 'todo', { collection: 't' }, { 'x-client-id': 'a b' }),
      400,
      'INVALID_REQUEST',
      'X-Client-Id',
    );
  });

  it('401 UNAUTHORIZED without a token, with garbage, or with a token from another key', async () => {
    await expectError(
      await s.request(null, '/sync/todo', { method: 'POST', body: '{}' }),
      401,
      'UNAUTHORIZED',
    );
    await expectError(
      await fetch(`${s.url}/sync/todo/pull?collection=t`, { headers: { authorization: 'Bearer not.a.jwt' } }),
      401,
      'UNAUTHORIZED',
    );
    const { startAuthService } = await import('../helpers/auth-service.js');
    const other = await startAuthService();
    const forged = await other.mint('someone');
    await other.close();
    await expectError(
      await fetch(`${s.url}/sync/todo/pull?collection=t`, { headers: { authorization: `Bearer ${forged}` } }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('401 TOKEN_EXPIRED for an expired token', async () => {
    const expired = await s.auth.mint('late', { expiresIn: -60 });
    await expectError(
      await fetch(`${s.url}/sync/todo/pull?collection=t`, {
        headers: { authorization: `Bearer ${expired}` },
      }),
      401,
      'TOKEN_EXPIRED',
    );
  });

  it('401 when the service key is used but service auth is off', async () => {
    await expectError(
      await fetch(`${s.url}/sync/todo/pull?collection=t`, {
        headers: { 'x-service-key': 'guess', 'x-user-id': 'a' },
      }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('404 NOT_FOUND for an unknown route, 405 for a wrong method', async () => {
    await expectError(await fetch(`${s.url}/nope`), 404, 'NOT_FOUND');
    await expectError(await s.request(fresh(), '/sync/todo', { method: 'GET' }), 405, 'METHOD_NOT_ALLOWED');
    await expectError(
      await s.request(fresh(), '/sync/todo/pull', { method: 'POST', body: '{}' }),
      405,
      'METHOD_NOT_ALLOWED',
    );
  });

  it('413 PAYLOAD_TOO_LARGE for a body over 10 MB', async () => {
    const big = JSON.stringify({
      clientId: 'c',
      changes: [{ table: 't', id: 'a', op: 'insert', data: { b: 'x'.repeat(11 * 1024 * 1024) } }],
    });
    await expectError(await s.push(fresh(), 'todo', big), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('429 RATE_LIMITED with Retry-After past the per-user budget, other users unaffected', async () => {
    const u = fresh();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await s.pull(u, 'todo', { collection: 't' })).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    const res = await s.pull(u, 'todo', { collection: 't' });
    await expectError(res, 429, 'RATE_LIMITED');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await s.pull(fresh(), 'todo', { collection: 't' })).status).toBe(200);
  });
});

describe('database unavailable', () => {
  it('answers 503 DB_UNAVAILABLE with Retry-After, and /health reports it', async () => {
    const s = await startTestServer(await memoryPglite());
    try {
      await s.server.db!.close();
      const res = await s.push('u', 'todo', { clientId: 'c', changes: [] });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('DB_UNAVAILABLE');
      const health = await fetch(`${s.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'degraded', database: 'down' });
    } finally {
      await s.close();
    }
  });
});
