import type { Socket } from 'node:net';
import { LIMITS } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { type RawClient, rawClient } from '../helpers/raw-http.js';
import { openSse } from '../helpers/sse-client.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket } from '../helpers/ws-client.js';

const CLIENTS = 60;
const FIRST_PART = Buffer.alloc(64 * 1024, 0x20);

/** What an attacker sends: a push head announcing a 10 MB body (declared or chunked), then 64 KB of it. */
function attack(kind: 'declared' | 'chunked', authorization?: string): Buffer {
  const head = [
    'POST /sync/todo HTTP/1.1',
    'Host: localhost',
    'Content-Type: application/json',
    kind === 'declared' ? `Content-Length: ${LIMITS.maxBodyBytes - 1}` : 'Transfer-Encoding: chunked',
    ...(authorization ? [`Authorization: ${authorization}`] : []),
    '',
    '',
  ].join('\r\n');
  const part =
    kind === 'declared'
      ? FIRST_PART
      : Buffer.concat([Buffer.from('10000\r\n'), FIRST_PART, Buffer.from('\r\n')]);
  return Buffer.concat([Buffer.from(head), part]);
}

/** Keeps writing `bytes` more of the body, as fast as the connection takes it, until it closes. */
function keepSending(client: RawClient, bytes: number): void {
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  let left = bytes;
  const write = () => {
    while (left > 0 && !client.socket.destroyed) {
      left -= chunk.length;
      if (!client.socket.write(chunk)) return void client.socket.once('drain', write);
    }
  };
  write();
}

describe('auth before body (finding 3)', () => {
  let s: TestServer;
  const serverSockets: Socket[] = [];
  beforeAll(async () => {
    s = await startTestServer(await memoryPglite(), {
      httpHeadersTimeoutMs: 300,
      httpRequestTimeoutMs: 900,
      sseHeartbeatMs: 200,
    });
    s.server.httpServer.on('connection', (socket: Socket) => serverSockets.push(socket));
  });
  afterAll(() => s.close());

  for (const kind of ['declared', 'chunked'] as const) {
    it(`answers ${CLIENTS} strangers announcing 10 MB (${kind}) with 401 at once, closes them, and reads none of their bodies`, async () => {
      const before = serverSockets.length;
      const started = performance.now();
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) =>
          rawClient(s.url, attack(kind, i % 2 === 0 ? undefined : 'Bearer not.a.token')),
        ),
      );
      const answers = await Promise.all(clients.map((c) => c.response));
      // The bodies are 0.6 % sent: an answer now means the server did not wait for them.
      expect(performance.now() - started).toBeLessThan(5000);
      for (const a of answers) {
        expect(a.status).toBe(401);
        expect(a.headers.connection).toBe('close');
        expect(JSON.parse(a.body).error.code).toMatch(/UNAUTHORIZED/);
      }
      // The clients go on sending; the server has closed, so they cannot.
      for (const c of clients) keepSending(c, LIMITS.maxBodyBytes);
      await Promise.all(clients.map((c) => c.closed));
      const mine = serverSockets.slice(before);
      expect(mine).toHaveLength(CLIENTS);
      const read = mine.reduce((sum, socket) => sum + socket.bytesRead, 0);
      // At most what was in flight when the 401 left: far from 60 × 10 MB.
      expect(read).toBeLessThan(CLIENTS * 1024 * 1024);
    });
  }

  it('still serves a signed-in push on both paths (declared and chunked length)', async () => {
    const ok = await s.push('alice', 'todo', { clientId: 'c1', changes: [] });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('connection')).not.toBe('close');
    const text = JSON.stringify({ clientId: 'c1', changes: [] });
    const chunked = await s.request('alice', '/sync/todo', {
      method: 'POST',
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(text));
          controller.close();
        },
      }),
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(200);
  });

  it('cuts a client whose headers take longer than HTTP_HEADERS_TIMEOUT_MS', async () => {
    const c = await rawClient(s.url, 'POST /sync/todo HTTP/1.1\r\nHost: localhost\r\n');
    const started = performance.now();
    await c.closed;
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it('cuts a signed-in client whose body takes longer than HTTP_REQUEST_TIMEOUT_MS', async () => {
    const head = `POST /sync/todo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nAuthorization: Bearer ${await s.token('alice')}\r\n\r\n{"clientId":`;
    const c = await rawClient(s.url, head);
    const started = performance.now();
    const answer = await c.response.catch(() => undefined);
    await c.closed;
    if (answer) expect(answer.status).toBe(408);
    expect(performance.now() - started).toBeLessThan(3500);
  });

  it('does not cut an SSE stream or a WebSocket open longer than HTTP_REQUEST_TIMEOUT_MS', async () => {
    const token = await s.token('alice');
    const sse = await openSse(s.url, 'todo', { token, query: { collections: 'todos' } });
    expect(sse.status).toBe(200);
    const ws = await openSocket(s.url);
    await ws.auth(token);
    let sseEnded = false;
    void sse.ended.then(() => {
      sseEnded = true;
    });
    await new Promise((r) => setTimeout(r, 2000));
    expect(sseEnded).toBe(false);
    await sse.next(1000); // still delivering
    expect(ws.ws.readyState).toBe(ws.ws.OPEN);
    sse.close();
    ws.close();
  });
});
