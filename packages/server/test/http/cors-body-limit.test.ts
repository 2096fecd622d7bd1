import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** CORS headers and the body limit, as a browser and a streaming client see them. */
describe('CORS and body limit over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(await memoryPglite(), { corsOrigins: ['http://app.example'] });
  });
  afterAll(() => s.close());

  it('answers a preflight from an allowed origin', async () => {
    const res = await fetch(`${s.url}/sync/todo`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('names an allowed origin on responses, and not a foreign one', async () => {
    const ok = await s.request('alice', '/sync/todo/pull?collection=todos', {
      headers: { origin: 'http://app.example' },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(ok.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    expect(ok.headers.get('vary')).toContain('Origin');
    const foreign = await s.request('alice', '/sync/todo/pull?collection=todos', {
      headers: { origin: 'http://evil.example' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(foreign.headers.get('access-control-expose-headers')).toBeNull();
    expect(foreign.headers.get('vary')).toContain('Origin');
  });

  it('refuses a chunked body over 10 MB with 413, counting bytes as they arrive', async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 11) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await s.request('alice', '/sync/todo', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('still reads a chunked body under the limit', async () => {
    const text = JSON.stringify({ clientId: 'c1', changes: [] });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
    const res = await s.request('alice', '/sync/todo', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
  });
});
