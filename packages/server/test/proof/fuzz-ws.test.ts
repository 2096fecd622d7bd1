import { ERROR_CODES, WS_CLOSE } from '@mana/sync-protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket } from '../helpers/ws-client.js';
import { hostileArb, keyArb, resolve } from './fuzz/arbitraries.js';
import { fcParams, report, timeoutFor } from './proof-runs.js';

/**
 * WebSocket frame fuzzing. After any sequence of frames — before or after auth, text or
 * binary, wrong types, huge, deep, prototype-pollution keys — the socket either still
 * answers a ping with a pong, or was closed with a documented close code, after an `error`
 * message with a known code. Never an internal error, a dropped connection or a hang.
 * Every server message is checked against the wire schema by the test client.
 */

const DOCUMENTED = new Set<number>(Object.values(WS_CLOSE));
let frames = 0;
let sockets = 0;

describe('protocol fuzzing (WebSocket frames)', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite());
  });
  afterAll(async () => {
    await ts?.close();
    report('fuzz-ws', { sockets, frames });
  });

  const frameArb = fc.oneof(
    hostileArb.map((h) => ({ kind: 'json' as const, value: h })),
    fc
      .record({
        type: fc.constantFrom('auth', 'ping', 'pong', 'sync-available', '__proto__', 'AUTH', ''),
        extra: fc.option(fc.tuple(keyArb, hostileArb), { nil: undefined }),
      })
      .map((m) => ({ kind: 'typed' as const, value: m })),
    fc
      .record({ token: hostileArb, clientId: fc.option(hostileArb, { nil: undefined }) })
      .map((a) => ({ kind: 'auth' as const, value: a })),
    fc.string({ unit: 'binary', maxLength: 100 }).map((t) => ({ kind: 'text' as const, value: t })),
    fc.uint8Array({ maxLength: 64 }).map((b) => ({ kind: 'binary' as const, value: b })),
    fc.constantFrom('big', 'valid-auth', 'ping').map((k) => ({ kind: k })),
  );

  const params = fcParams(150);
  it(
    'any frame sequence: still answering, or closed with a documented code after a coded error',
    async () => {
      const good = await ts.auth.mint('ws-fuzz');
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.constantFrom('/ws', '/ws/todo'),
          fc.array(frameArb, { minLength: 1, maxLength: 4 }),
          async (authFirst, path, seq) => {
            sockets++;
            const sock = await openSocket(ts.url, path);
            try {
              if (authFirst) await sock.auth(good, 'fuzz-client');
              for (const f of seq) {
                frames++;
                if (f.kind === 'binary') sock.ws.send(Buffer.from(f.value));
                else if (f.kind === 'text') sock.ws.send(f.value);
                else if (f.kind === 'big')
                  sock.ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(100_000) }));
                else if (f.kind === 'valid-auth') sock.send({ type: 'auth', token: good });
                else if (f.kind === 'ping') sock.send({ type: 'ping' });
                else if (f.kind === 'json') sock.ws.send(JSON.stringify(resolve(f.value)) ?? 'undefined');
                else if (f.kind === 'auth')
                  sock.ws.send(
                    JSON.stringify({
                      type: 'auth',
                      token: resolve(f.value.token),
                      ...(f.value.clientId === undefined ? {} : { clientId: resolve(f.value.clientId) }),
                    }),
                  );
                else if (f.kind === 'typed') {
                  const msg: Record<string, unknown> = { type: f.value.type };
                  if (f.value.extra)
                    Object.defineProperty(msg, f.value.extra[0], {
                      value: resolve(f.value.extra[1]),
                      enumerable: true,
                    });
                  sock.ws.send(JSON.stringify(msg));
                }
              }
              sock.send({ type: 'ping' });
              // Read until a pong (still answering) or the close; a silent socket is a hang.
              let lastError: string | undefined;
              const outcome = await Promise.race([
                sock.closed.then((c) => ({ closed: c })),
                (async () => {
                  for (;;) {
                    const m = await sock.next(8000);
                    if (m.type === 'pong') return { pong: true as const };
                    if (m.type === 'error') lastError = m.code;
                  }
                })().catch(() => ({ silent: true as const })),
              ]);
              if ('silent' in outcome) {
                const late = await Promise.race([
                  sock.closed,
                  new Promise((r) => setTimeout(() => r(null), 500)),
                ]);
                if (!late) throw new Error('socket neither answered nor closed (hang)');
                return;
              }
              if ('closed' in outcome) {
                const { code } = outcome.closed;
                expect(DOCUMENTED.has(code), `close code ${code}`).toBe(true);
                if (code !== WS_CLOSE.messageTooBig) {
                  expect(
                    lastError ??
                      (await sock.next(200).then(
                        (m) => (m.type === 'error' ? m.code : undefined),
                        () => undefined,
                      )),
                    `close ${code} without an error message`,
                  ).toBeDefined();
                }
                if (lastError) expect(lastError in ERROR_CODES).toBe(true);
                if (!authFirst) expect(code).not.toBe(1000);
              }
            } finally {
              sock.close();
            }
          },
        ),
        params,
      );
      expect((await fetch(`${ts.url}/health`)).status).toBe(200);
    },
    timeoutFor(params.numRuns, 500),
  );
});
