import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { memoryPglite } from '../helpers/databases.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { rawClient } from '../helpers/raw-http.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** The HTTP edges an outside probe found (issue 22): what a client that misbehaves at the protocol level gets. */
const SERVICE_KEY = 'svc-0123456789abcdef0123456789abcdef';

function capture(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  let rest = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      const parts = (rest + String(chunk)).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) lines.push(JSON.parse(p) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP edges', () => {
  let s: TestServer;
  const log = capture();
  beforeAll(async () => {
    s = await startTestServer(
      await memoryPglite(),
      { serviceKey: SERVICE_KEY },
      { logger: createLogger('info', { destination: log.stream }) },
    );
  });
  afterAll(() => s.close());

  const requests = async (status: string) =>
    sampleValue(
      parsePromText(await (await fetch(`${s.url}/metrics`)).text()),
      'mana_sync_http_requests_total',
      {
        status,
      },
    );

  it('a client that hangs up mid-way through a push is neither a 5xx nor an error log (chunked or declared)', async () => {
    const token = await s.token('hangup');
    const before503 = await requests('503');
    const errorsBefore = log.lines.filter((l) => (l.level as number) >= 50).length;
    for (const framing of ['Transfer-Encoding: chunked', 'Content-Length: 100']) {
      const c = await rawClient(
        s.url,
        [
          'POST /sync/todo HTTP/1.1',
          'Host: localhost',
          `Authorization: Bearer ${token}`,
          'Content-Type: application/json',
          framing,
          '',
          framing.startsWith('Transfer') ? '5\r\n{"cli\r\n' : '{"cli',
        ].join('\r\n'),
      );
      await sleep(150);
      c.socket.destroy();
      await c.closed;
    }
    await sleep(300);
    expect(await requests('503')).toBe(before503);
    expect(log.lines.filter((l) => (l.level as number) >= 50).slice(errorsBefore)).toEqual([]);
  });

  describe('X-User-Id (service auth)', () => {
    /** A header value whose bytes are `text` in UTF-8, as a client on the wire sends it. */
    const utf8Bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    const asService = (userId: string, path: string, init: RequestInit = {}) =>
      fetch(`${s.url}${path}`, {
        ...init,
        headers: { 'content-type': 'application/json', 'x-service-key': SERVICE_KEY, 'x-user-id': userId },
      });
    const change = (id: string) => ({
      clientId: 'svc',
      changes: [
        {
          table: 'notes',
          id,
          op: 'insert',
          fields: { body: { value: id, updatedAt: '2026-01-01T00:00:00Z' } },
        },
      ],
    });

    it('is read as UTF-8: the service acting for "é" is the user a token with sub "é" is', async () => {
      const pushed = await asService(utf8Bytes('é'), '/sync/notes', {
        method: 'POST',
        body: JSON.stringify(change('from-service')),
      });
      expect(pushed.status, await pushed.clone().text()).toBe(200);
      const pulled = await s.pull('é', 'notes', { collection: 'notes' });
      expect(pulled.status).toBe(200);
      const ids = ((await pulled.json()) as { serverChanges: Array<{ id: string }> }).serverChanges.map(
        (c) => c.id,
      );
      expect(ids).toContain('from-service');
      // And the Latin-1 reading of those bytes is another user, who has nothing.
      const other = await s.pull('Ã©', 'notes', { collection: 'notes' });
      expect(((await other.json()) as { serverChanges: unknown[] }).serverChanges).toEqual([]);
    });

    it('refuses bytes that are not UTF-8 with 401 saying so', async () => {
      const res = await asService('\xff\xfe', '/sync/notes/pull?collection=notes');
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(body.error.message).toMatch(/UTF-8/);
    });

    it('refuses one longer than a user id may be with 401 saying it is too long', async () => {
      const res = await asService('u'.repeat(300), '/sync/notes/pull?collection=notes');
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(body.error.message).toMatch(/longer than 256/);
      // The limit is the token's: 256 characters are a user.
      expect((await asService('u'.repeat(256), '/sync/notes/pull?collection=notes')).status).toBe(200);
    });
  });

  describe('requests node:http refuses get a JSON error', () => {
    const head = (lines: string[]) =>
      ['POST /sync/todo HTTP/1.1', 'Host: localhost', ...lines, '', ''].join('\r\n');

    it.each([
      ['headers over the limit', 431, 'HEADERS_TOO_LARGE', head([`X-Big: ${'a'.repeat(20_000)}`])],
      ['Content-Length: -1', 400, 'INVALID_REQUEST', head(['Content-Length: -1'])],
      [
        'Content-Length and Transfer-Encoding',
        400,
        'INVALID_REQUEST',
        head(['Content-Length: 5', 'Transfer-Encoding: chunked']),
      ],
      ['a bad chunk', 400, 'INVALID_REQUEST', `${head(['Transfer-Encoding: chunked'])}zz\r\n`],
    ])('%s: %i %s, Connection: close', async (_name, status, code, request) => {
      const c = await rawClient(s.url, request);
      const res = await c.response;
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.headers.connection).toBe('close');
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(0);
      await c.closed;
    });
  });

  it('a request that takes too long to arrive gets 408 REQUEST_TIMEOUT as JSON', async () => {
    const slow = await startTestServer(await memoryPglite(), {
      httpHeadersTimeoutMs: 200,
      httpRequestTimeoutMs: 400,
    });
    try {
      const token = await slow.token('slowpoke');
      for (const partial of [
        'GET /health HTTP/1.1\r\nHost: localhost\r\n', // headers never end
        `POST /sync/todo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Length: 10\r\n\r\n{`, // body never ends
      ]) {
        const c = await rawClient(slow.url, partial);
        const res = await c.response;
        expect(res.status).toBe(408);
        expect(res.headers.connection).toBe('close');
        expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe('REQUEST_TIMEOUT');
        await c.closed;
      }
    } finally {
      await slow.close();
    }
  }, 30_000); // a second server starts

  describe('Expect: 100-continue', () => {
    const body = JSON.stringify({ clientId: 'c', changes: [] });
    const head = (path: string, authorization: string | undefined, framing: string) =>
      [
        `POST ${path} HTTP/1.1`,
        'Host: localhost',
        'Content-Type: application/json',
        'Expect: 100-continue',
        framing,
        ...(authorization ? [`Authorization: ${authorization}`] : []),
        '',
        '',
      ].join('\r\n');

    for (const framing of [`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked']) {
      it(`a refused caller gets its 401 without 100 Continue (${framing.split(':')[0]})`, async () => {
        const c = await rawClient(s.url, head('/sync/todo', 'Bearer not.a.token', framing));
        const res = await c.response;
        expect(res.status).toBe(401);
        expect(res.headers.connection).toBe('close');
        expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
        c.socket.destroy();
      });

      it(`a signed-in caller gets 100 Continue, then its answer (${framing.split(':')[0]})`, async () => {
        const token = await s.token('continues');
        const c = await rawClient(s.url, head('/sync/todo', `Bearer ${token}`, framing));
        expect((await c.response).status).toBe(100);
        let received = '';
        const answered = new Promise<void>((resolve) =>
          c.socket.on('data', (chunk: Buffer) => {
            received += String(chunk);
            if (/\r\n\r\n[\s\S]*"syncedUntil"/.test(received)) resolve();
          }),
        );
        c.socket.write(
          framing.startsWith('Content') ? body : `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
        );
        await answered;
        expect(received).toMatch(/^HTTP\/1\.1 200 /);
        c.socket.destroy();
      });
    }
  });

  describe('messages that name the problem', () => {
    const error = async (res: Response) =>
      ((await res.json()) as { error: { code: string; message: string } }).error;

    it('limit=-1 is refused with the range, not just "a whole number"', async () => {
      for (const limit of ['-1', '0', '10001']) {
        const res = await s.pull('msgs', 'todo', { collection: 'todos', limit });
        expect(res.status).toBe(400);
        expect((await error(res)).message).toMatch(/a whole number from 1 to 10000/);
      }
    });

    it('a 200-character X-Client-Id is refused for its length', async () => {
      const res = await s.pull('msgs', 'todo', { collection: 'todos' }, { 'x-client-id': 'c'.repeat(200) });
      expect(res.status).toBe(400);
      const e = await error(res);
      expect(e.code).toBe('INVALID_REQUEST');
      expect(e.message).toMatch(/at most 128 characters/);
    });

    it.each(['/ws', '/ws/todo'])('GET %s without an upgrade: 426 UPGRADE_REQUIRED as JSON', async (path) => {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status).toBe(426);
      expect(res.headers.get('upgrade')).toBe('websocket');
      const e = await error(res);
      expect(e.code).toBe('UPGRADE_REQUIRED');
      expect(e.message).toMatch(/WebSocket/);
    });
  });
});
