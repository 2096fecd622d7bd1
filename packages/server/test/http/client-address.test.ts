import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Issue 20, finding 11 (part): log lines name the client; no default CORS origin in production. */

type Line = Record<string, unknown>;

function capture() {
  const lines: Line[] = [];
  let rest = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      const parts = (rest + String(chunk)).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) lines.push(JSON.parse(p) as Line);
      done();
    },
  });
  return { stream, lines };
}

const body = { clientId: 'c1', changes: [] };

async function requestLines(t: TestServer, lines: Line[], headers: Record<string, string>) {
  const ids = ['push-1', 'pull-1', 'bad-1'];
  expect((await t.push('alice', 'todo', body, { 'x-request-id': ids[0]!, ...headers })).status).toBe(200);
  expect(
    (await t.pull('alice', 'todo', { collection: 'todos' }, { 'x-request-id': ids[1]!, ...headers })).status,
  ).toBe(200);
  const unauthenticated = await fetch(`${t.url}/sync/todo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': ids[2]!, ...headers },
    body: JSON.stringify(body),
  });
  expect(unauthenticated.status).toBe(401);
  await new Promise((r) => setTimeout(r, 50)); // the log stream is asynchronous
  return ids.map((id) => lines.find((l) => l.msg === 'request' && l.reqId === id));
}

describe('request log lines carry the client address', () => {
  const direct = capture();
  const proxied = capture();
  let t: TestServer;
  let behindProxy: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      await memoryPglite(),
      {},
      { logger: createLogger('info', { destination: direct.stream }) },
    );
    behindProxy = await startTestServer(
      await memoryPglite(),
      { trustProxy: true },
      { logger: createLogger('info', { destination: proxied.stream }) },
    );
  });
  afterAll(async () => {
    await t.close();
    await behindProxy.close();
  });

  it('the socket address on both push paths and the Hono routes; X-Forwarded-For is ignored', async () => {
    const lines = await requestLines(t, direct.lines, { 'x-forwarded-for': '203.0.113.5' });
    for (const line of lines) expect(line).toMatchObject({ remoteAddress: '127.0.0.1' });
    expect(lines.map((l) => l?.route)).toEqual(['/sync/:appId', '/sync/:appId/pull', '/sync/:appId']);
  });

  it('with TRUST_PROXY=1, the last X-Forwarded-For entry (the one our proxy added)', async () => {
    const lines = await requestLines(behindProxy, proxied.lines, {
      'x-forwarded-for': '10.9.9.9, 203.0.113.5',
    });
    for (const line of lines) expect(line).toMatchObject({ remoteAddress: '203.0.113.5' });
    // Without the header: the socket's address.
    const res = await behindProxy.push('alice', 'todo', body, { 'x-request-id': 'no-xff' });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(proxied.lines.find((l) => l.reqId === 'no-xff')).toMatchObject({ remoteAddress: '127.0.0.1' });
  });
});

describe('CORS in production', () => {
  const production = {
    NODE_ENV: 'Production',
    JWT_ISSUER: 'https://auth.test',
    JWT_AUDIENCE: 'https://auth.test',
  };

  it('has no default origin; CORS_ORIGINS set explicitly still applies', () => {
    expect(loadConfig({}).corsOrigins).toEqual(['http://localhost:5173']);
    expect(loadConfig(production).corsOrigins).toEqual([]);
    expect(loadConfig({ ...production, CORS_ORIGINS: 'https://mana.how' }).corsOrigins).toEqual([
      'https://mana.how',
    ]);
  });

  describe('on a running server', () => {
    let t: TestServer;
    beforeAll(async () => {
      // CORS_ORIGINS unset (not overridden): the server reads the production default itself.
      t = await startTestServer(await memoryPglite(), {
        nodeEnv: 'Production',
        jwtIssuer: 'https://auth.test',
        jwtAudience: 'https://auth.test',
      });
    });
    afterAll(() => t.close());

    it('lets no page from http://localhost:5173 read its answers', async () => {
      const origin = 'http://localhost:5173';
      const token = await t.auth.mint('alice', {
        issuer: 'https://auth.test',
        audience: 'https://auth.test',
      });
      const preflight = await fetch(`${t.url}/sync/todo`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      const res = await fetch(`${t.url}/sync/todo`, {
        method: 'POST',
        headers: { origin, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const pulled = await fetch(`${t.url}/sync/todo/pull?collection=todos`, {
        headers: { origin, authorization: `Bearer ${token}` },
      });
      expect(pulled.status).toBe(200);
      expect(pulled.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});
