import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushTarget } from '../../src/http/push-endpoint.js';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * A push is served on node:http when its body has a Content-Length (push-endpoint.ts) and by
 * the Hono route when it is chunked. A client must not be able to tell which one answered:
 * same status, same body, same headers.
 */
describe('push: the node:http path and the Hono path answer alike', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(await memoryPglite(), {
      corsOrigins: ['http://app.example'],
      rateLimitPerSecond: 1,
      rateLimitBurst: 2,
    });
  });
  afterAll(() => s.close());

  let n = 0;
  // A new user for each request pair: the suite's rate limit (burst 2) is per user.
  const user = () => `paths-${++n}`;

  /** The same request with a Content-Length body, then with a chunked one. */
  async function both(
    userId: string | null,
    body: string,
    path = '/sync/todo',
    extra: Record<string, string> = {},
  ) {
    const headers = { origin: 'http://app.example', 'content-type': 'application/json', ...extra };
    const sized = await s.request(userId, path, { method: 'POST', headers, body });
    const chunked = await s.request(userId, path, {
      method: 'POST',
      headers,
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(body));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    return [await view(sized), await view(chunked)] as const;
  }

  async function view(res: Response) {
    const headers = Object.fromEntries(
      [...res.headers].filter(([name]) => !['date', 'x-request-id', 'content-length'].includes(name)),
    );
    return {
      status: res.status,
      headers,
      requestId: res.headers.get('x-request-id'),
      body: await res.json(),
    };
  }

  /** Another client (c0) of `userId` writes record t0; then waits for the rate limit's next token. */
  async function otherClientWrites(userId: string) {
    const res = await s.push(userId, 'todo', {
      clientId: 'c0',
      changes: [
        {
          table: 'todos',
          id: 't0',
          op: 'update',
          fields: { title: { value: 'by c0', updatedAt: '2024-01-01T00:00:00Z' } },
          actor: { type: 'user' },
        },
      ],
    });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
  }

  it('a valid push (the second is an idempotent retry of the first)', async () => {
    // The answers carry another client's record (a client's own are left out of its answers).
    const u = user();
    await otherClientWrites(u);
    const body = JSON.stringify({
      clientId: 'c1',
      changes: [
        {
          table: 'todos',
          id: 't1',
          op: 'insert',
          fields: { title: { value: 'A', updatedAt: '2024-01-01T00:00:00Z' } },
        },
      ],
    });
    const [sized, chunked] = await both(u, body);
    expect(sized.status).toBe(200);
    expect(sized.body.serverChanges).toHaveLength(1);
    expect(sized.body.serverChanges[0]).toMatchObject({ id: 't0', op: 'update', actor: { type: 'user' } });
    expect(chunked).toEqual({ ...sized, requestId: chunked.requestId });
    expect(sized.headers['access-control-allow-origin']).toBe('http://app.example');
    expect(sized.headers['content-type']).toBe('application/json');
    expect(sized.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['no token', null, '{"clientId":"c1","changes":[]}', 401, 'UNAUTHORIZED'],
    ['bad JSON', 'user', '{"clientId":', 400, 'BAD_JSON'],
    ['an empty body', 'user', '', 400, 'BAD_JSON'],
    ['a schema error', 'user', '{"clientId":"c1","changes":[{}]}', 400, 'INVALID_REQUEST'],
  ])('%s', async (_, who, body, status, code) => {
    const [sized, chunked] = await both(who === null ? null : user(), body);
    expect(sized.status).toBe(status);
    expect(sized.body.error.code).toBe(code);
    expect(chunked).toEqual({ ...sized, requestId: chunked.requestId });
  });

  it('X-Client-Id names the asking client over the body’s clientId on both', async () => {
    const u = user();
    await otherClientWrites(u);
    // The body says c0, the header c1: c0's record comes back, c1's own write does not.
    const body = JSON.stringify({
      clientId: 'c0',
      changes: [
        {
          table: 'todos',
          id: 't1',
          op: 'update',
          fields: { title: { value: 'by c1', updatedAt: '2024-01-01T00:00:00Z' } },
        },
      ],
    });
    const [sized, chunked] = await both(u, body, '/sync/todo', { 'x-client-id': 'c1' });
    expect(sized.status).toBe(200);
    expect(sized.body.serverChanges.map((c: { id: string }) => c.id)).toEqual(['t0']);
    expect(chunked).toEqual({ ...sized, requestId: chunked.requestId });
  });

  it.each([
    [
      'an X-Client-Id that is not a client id',
      '{"clientId":"c1","changes":[]}',
      { 'x-client-id': 'not a client id!' },
      'INVALID_REQUEST',
      'X-Client-Id',
    ],
    [
      'a changeset schemaVersion newer than supported',
      '{"clientId":"c1","schemaVersion":2,"changes":[]}',
      {},
      'SCHEMA_VERSION_UNSUPPORTED',
      'schemaVersion',
    ],
    [
      'a change schemaVersion newer than supported',
      '{"clientId":"c1","changes":[{"table":"t","id":"r","op":"delete","schemaVersion":2}]}',
      {},
      'SCHEMA_VERSION_UNSUPPORTED',
      'changes.0.schemaVersion',
    ],
  ])('%s: 400 on both', async (_, body, headers, code, path) => {
    const [sized, chunked] = await both(user(), body, '/sync/todo', headers);
    expect(sized.status).toBe(400);
    expect(sized.body.error).toMatchObject({ code, path });
    expect(chunked).toEqual({ ...sized, requestId: chunked.requestId });
  });

  it('a body that starts with a byte order mark is JSON like any other', async () => {
    const [sized, chunked] = await both(user(), '\uFEFF{"clientId":"c1","changes":[]}');
    expect(sized.status).toBe(200);
    expect(chunked).toEqual({ ...sized, requestId: chunked.requestId });
  });

  it('the rate limit: 429 with Retry-After on both', async () => {
    const u = user();
    for (let k = 0; k < 2; k++)
      expect((await s.push(u, 'todo', { clientId: 'c1', changes: [] })).status).toBe(200);
    const [sized, chunked] = await both(u, '{"clientId":"c1","changes":[]}');
    expect(sized.status).toBe(429);
    expect(sized.headers['retry-after']).toBe('1');
    expect(chunked).toEqual({ ...sized, requestId: chunked.requestId });
  });

  it('keeps a safe X-Request-Id the client sent, and replaces an unsafe one', async () => {
    const u = user();
    const body = '{"clientId":"c1","changes":[]}';
    const kept = await s.request(u, '/sync/todo', {
      method: 'POST',
      body,
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(kept.headers.get('x-request-id')).toBe('trace-42');
    const replaced = await s.request(u, '/sync/todo', {
      method: 'POST',
      body,
      headers: { 'x-request-id': 'bad id\u00e9' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an app id Hono must decode or refuse still works the same', async () => {
    const body = '{"clientId":"c1","changes":[]}';
    const encoded = await s.request(user(), '/sync/t%6Fdo', { method: 'POST', body });
    expect(encoded.status).toBe(200);
    const bad = await s.request(user(), '/sync/no%20spaces', { method: 'POST', body });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
  });
});

describe('which pushes the node:http path takes', () => {
  const sized = { 'content-length': '30' };
  it.each([
    ['POST', '/sync/todo', sized, 'todo'],
    ['POST', '/sync/my-app_2?trace=1', sized, 'my-app_2'],
    ['GET', '/sync/todo', sized, undefined],
    ['POST', '/sync/todo/pull', sized, undefined],
    ['POST', '/sync/todo/', sized, undefined],
    ['POST', '/sync/t%6Fdo', sized, undefined],
    ['POST', '/sync/todo', {}, undefined],
    ['POST', '/sync/todo', { 'content-length': '30', 'transfer-encoding': 'chunked' }, undefined],
    ['POST', '/sync/todo', { 'content-length': '3e1' }, undefined],
  ])('%s %s %j -> %s', (method, url, headers, expected) => {
    expect(pushTarget(method, url, headers)).toBe(expected);
  });
});
