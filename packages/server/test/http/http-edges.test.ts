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
});
