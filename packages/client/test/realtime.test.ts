import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import type { GetTokenOptions, WebSocketConstructor } from '../src/index.js';
import { attach, eventually, newDevice, startServer, waitForStatus } from './helpers/harness.js';

const WS = WebSocket as unknown as WebSocketConstructor;

describe('real time over the WebSocket hub', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('a write on one client reaches the other through sync-available, without polling', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    // No periodic pull to fall back on: only the notification can bring the change.
    const opts = { WebSocket: WS, pullIntervalMs: 3_600_000 };
    const ca = attach(a, server, 'u-rt', opts);
    const cb = attach(b, server, 'u-rt', opts);
    await ca.start();
    await cb.start();
    await waitForStatus(ca, (s) => s.realtime && s.state === 'synced');
    await waitForStatus(cb, (s) => s.realtime && s.state === 'synced');
    await a.todos.add({ id: 'live', title: 'over the socket', done: false });
    await eventually(
      async () =>
        expect(await b.todos.get('live')).toEqual({ id: 'live', title: 'over the socket', done: false }),
      5000,
    );
    await ca.stop();
    await cb.stop();
  });

  it('an expired token closes the socket; the client fetches a fresh one and reconnects, once', async () => {
    const calls: GetTokenOptions[] = [];
    const db = newDevice().open();
    const client = attach(db, server, 'u-rt-exp', {
      WebSocket: WS,
      tokenRefreshMarginMs: 0,
      getToken: async (o) => {
        calls.push(o);
        // The first token lives 2 s: the hub closes the socket with 4003 when it runs out.
        return server.auth.mint('u-rt-exp', { expiresIn: calls.length === 1 ? 2 : 3600 });
      },
    });
    await client.start();
    await waitForStatus(client, (s) => s.realtime);
    await eventually(() => expect(calls.length).toBeGreaterThanOrEqual(2), 8000);
    await waitForStatus(client, (s) => s.realtime && s.state === 'synced', 8000);
    await new Promise((r) => setTimeout(r, 500));
    expect(calls.length).toBe(2);
    expect(calls[1]).toEqual({ forceRefresh: true });
    await client.stop();
  });

  it("renews the socket's token before it expires, without reconnecting", async () => {
    const calls: GetTokenOptions[] = [];
    const db = newDevice().open();
    const client = attach(db, server, 'u-rt-renew', {
      WebSocket: WS,
      tokenRefreshMarginMs: 2000,
      getToken: async (o) => {
        calls.push(o);
        return server.auth.mint('u-rt-renew', { expiresIn: 4 });
      },
    });
    let drops = 0;
    client.on('status', (s) => {
      if (!s.realtime && calls.length > 0 && client.status.state !== 'idle') drops++;
    });
    await client.start();
    await waitForStatus(client, (s) => s.realtime);
    drops = 0;
    // Three 4 s tokens in a row, each renewed 2 s before it runs out: the hub never closes.
    await eventually(() => expect(calls.length).toBeGreaterThanOrEqual(4), 10_000, 50);
    expect(client.status.realtime).toBe(true);
    expect(drops).toBe(0);
    // Routine renewals: forceRefresh is for tokens the server refused.
    expect(calls.every((c) => !c.forceRefresh)).toBe(true);
    await client.stop();
  }, 20_000);

  it('a fresh token the hub refuses too ends in error, not a reconnect loop', async () => {
    const calls: GetTokenOptions[] = [];
    const db = newDevice().open();
    const client = attach(db, server, 'u-rt-bad', {
      WebSocket: WS,
      tokenRefreshMarginMs: 0,
      // A 2 s token, then only already-expired ones: the hub closes 4003, the refresh fails too.
      getToken: async (o) => {
        calls.push(o);
        return server.auth.mint('u-rt-bad', { expiresIn: calls.length === 1 ? 2 : -60 });
      },
    });
    await client.start();
    await waitForStatus(client, (st) => st.realtime);
    const s = await waitForStatus(client, (st) => st.state === 'error', 10_000);
    expect(s.lastError?.code).toBe('AUTH_REFUSED');
    expect(calls.length).toBe(2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls.length).toBe(2);
    expect(client.status.realtime).toBe(false);
    await client.stop({ flush: false });
  });
});
