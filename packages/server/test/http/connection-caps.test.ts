import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../src/logger.js';
import { memoryPglite } from '../helpers/databases.js';
import { type RawClient, type RawResponse, rawClient } from '../helpers/raw-http.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const HALF_SENT = 'POST /sync/todo HTTP/1.1\r\nHost: localhost\r\n'; // headers never finished
const health = (xff?: string) =>
  `GET /health HTTP/1.1\r\nHost: localhost\r\n${xff ? `X-Forwarded-For: ${xff}\r\n` : ''}\r\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connections held open by a test, closed after it. */
const held: RawClient[] = [];
async function hold(url: string, send: string, localAddress = '127.0.0.1'): Promise<RawClient> {
  const c = await rawClient(url, send, { localAddress });
  held.push(c);
  return c;
}
afterEach(async () => {
  for (const c of held.splice(0)) c.socket.destroy();
  await sleep(50); // the server sees the closes
});

function expectRefused(a: RawResponse) {
  expect(a.status).toBe(503);
  expect(a.headers.connection).toBe('close');
  expect(a.headers['retry-after']).toBe('2');
  expect(JSON.parse(a.body).error.code).toBe('TOO_MANY_CONNECTIONS');
}

async function refusedCount(s: TestServer, reason: string): Promise<number> {
  const m = await s.server.context.metrics.connectionsRefused.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('connection caps (finding 7)', () => {
  let s: TestServer;
  const logLines: string[] = [];
  beforeAll(async () => {
    const logs = new Writable({
      write(chunk, _enc, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    s = await startTestServer(
      await memoryPglite(),
      { maxConnections: 6, maxConnectionsPerAddress: 3, logLevel: 'warn' },
      { logger: createLogger('warn', { destination: logs }) },
    );
  });
  afterAll(() => s.close());

  it('refuses a client address over MAX_CONNECTIONS_PER_ADDRESS with 503 at once, and no other address', async () => {
    for (let i = 0; i < 3; i++) await hold(s.url, HALF_SENT);
    const over = await hold(s.url, health());
    expectRefused(await over.response);
    await over.closed;
    // Another address still gets in and is served.
    const other = await hold(s.url, health(), '127.0.0.2');
    expect((await other.response).status).toBe(200);
    expect(await refusedCount(s, 'address')).toBeGreaterThanOrEqual(1);
    const line = logLines.map((l) => JSON.parse(l)).find((l) => l.msg.includes('TOO_MANY_CONNECTIONS'));
    expect(line).toMatchObject({ reason: 'address', clientAddress: '127.0.0.1', maxPerAddress: 3 });
  });

  it('refuses anyone over MAX_CONNECTIONS per instance, and admits again once connections close', async () => {
    const before = await refusedCount(s, 'instance');
    for (let i = 0; i < 3; i++) await hold(s.url, HALF_SENT, '127.0.0.1');
    for (let i = 0; i < 3; i++) await hold(s.url, HALF_SENT, '127.0.0.2');
    expect(s.server.context.connections?.open()).toBe(6);
    const over = await hold(s.url, health(), '127.0.0.3');
    expectRefused(await over.response);
    expect(await refusedCount(s, 'instance')).toBe(before + 1);
    // A fetch (undici) sees the 503 too, or at worst a closed connection: never a hang.
    const res = await fetch(`${s.url}/health`).catch(() => undefined);
    if (res) expect(res.status).toBe(503);
    for (const c of held.splice(0)) c.socket.destroy();
    await sleep(100);
    expect(s.server.context.connections?.open()).toBe(0);
    expect((await (await hold(s.url, health())).response).status).toBe(200);
  });

  it('counts unauthenticated WebSockets the same', async () => {
    const sockets: WebSocket[] = [];
    const open = () =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/ws`);
        sockets.push(ws);
        ws.on('open', () => resolve(101));
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(0));
      });
    try {
      for (let i = 0; i < 3; i++) expect(await open()).toBe(101);
      expect(await open()).toBe(503);
    } finally {
      for (const ws of sockets) ws.terminate();
    }
  });
});

describe('connection caps behind a trusted proxy (TRUST_PROXY=1)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(await memoryPglite(), {
      maxConnections: 100,
      maxConnectionsPerAddress: 2,
      trustProxy: true,
    });
  });
  afterAll(() => s.close());

  it('counts clients by the address the proxy added to X-Forwarded-For, not by the proxy', async () => {
    // Five clients through one proxy (one socket address): all served.
    for (let i = 1; i <= 5; i++) {
      const c = await hold(s.url, health(`10.0.0.${i}`));
      expect((await c.response).status).toBe(200);
    }
    // The same client twice more: its second is its cap; a forged first entry changes nothing.
    const second = await hold(s.url, health('6.6.6.6, 10.0.0.1'));
    expect((await second.response).status).toBe(200);
    const third = await hold(s.url, health('7.7.7.7, 10.0.0.1'));
    expectRefused(await third.response);
    await third.closed;
    expect(await refusedCount(s, 'address')).toBe(1);
    // A WebSocket through the proxy from that client counts the same.
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/ws`, {
        headers: { 'x-forwarded-for': '10.0.0.1' },
      });
      ws.on('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(0));
    });
    expect(status).toBe(503);
    expect(await refusedCount(s, 'address')).toBe(2);
  });
});
