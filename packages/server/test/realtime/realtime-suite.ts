import { WS_CLOSE } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthService } from '../helpers/auth-service.js';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';

/**
 * The WebSocket suite, run on every store: `realtime.test.ts` (PGlite, in-process fan-out)
 * and `realtime.pg.test.ts` (PostgreSQL, LISTEN/NOTIFY fan-out). Real sockets, real tokens.
 * "Never receives" is shown with a barrier, not a sleep: a later notification that must
 * arrive is awaited, and it must be the first message the socket sees.
 */
export function realtimeSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`WebSockets on ${name}`, () => {
    let db: TestDatabase;
    let ts: TestServer;
    let n = 0;
    const user = () => `u${++n}-${Math.random().toString(36).slice(2, 8)}`;
    const sockets: TestSocket[] = [];

    beforeAll(async () => {
      db = await makeDb();
      ts = await startTestServer(db, { wsAuthTimeoutMs: 1000, wsMaxSocketsPerUser: 3 });
    });
    afterAll(async () => {
      for (const s of sockets) s.close();
      await ts?.close();
      await db?.drop();
    });

    const open = async (path = '/ws') => {
      const s = await openSocket(ts.url, path);
      sockets.push(s);
      return s;
    };
    const authed = async (userId: string, opts: { path?: string; clientId?: string } = {}) => {
      const s = await open(opts.path);
      await s.auth(await ts.token(userId), opts.clientId);
      return s;
    };
    let stamp = Date.parse('2024-01-01T00:00:00Z');
    const push = async (userId: string, appId: string, tables: string[], clientId = 'pusher') => {
      stamp += 1000;
      const at = new Date(stamp).toISOString();
      const res = await ts.push(userId, appId, {
        clientId,
        changes: tables.map((table) => ({
          table,
          id: `r${stamp}`,
          op: 'insert',
          fields: { title: { value: 'x', updatedAt: at } },
        })),
      });
      expect(res.status).toBe(200);
    };

    it('answers auth with auth-ok and ping with pong', async () => {
      const s = await authed(user());
      s.send({ type: 'ping' });
      expect(await s.next()).toEqual({ type: 'pong' });
      s.send({ type: 'ping' });
      expect(await s.next()).toEqual({ type: 'pong' });
    });

    it('closes a socket that sends no auth in time (4002)', async () => {
      const s = await open();
      const started = Date.now();
      const closed = await s.closed;
      expect(closed.code).toBe(WS_CLOSE.authTimeout);
      expect(closed.reason).toMatch(/auth/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    });

    it('closes on a bad token (4001) and on a token signed by another key (4001)', async () => {
      const s = await open();
      s.send({ type: 'auth', token: 'not-a-jwt' });
      expect(await s.next()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
      expect((await s.closed).code).toBe(WS_CLOSE.unauthorized);

      const stranger = await startAuthService();
      try {
        const s2 = await open();
        s2.send({ type: 'auth', token: await stranger.mint(user()) });
        expect((await s2.closed).code).toBe(WS_CLOSE.unauthorized);
      } finally {
        await stranger.close();
      }
    });

    it('closes on an expired token (4003)', async () => {
      const s = await open();
      s.send({ type: 'auth', token: await ts.auth.mint(user(), { expiresIn: -30 }) });
      expect(await s.next()).toMatchObject({ type: 'error', code: 'TOKEN_EXPIRED' });
      expect((await s.closed).code).toBe(WS_CLOSE.tokenExpired);
    });

    it('closes an open socket when its token expires (4003)', async () => {
      const s = await open();
      await s.auth(await ts.auth.mint(user(), { expiresIn: 3 }));
      const closed = await s.closed;
      expect(closed).toMatchObject({ code: WS_CLOSE.tokenExpired, reason: 'token expired' });
    });

    it('refuses messages before auth, non-JSON and unknown types (1002)', async () => {
      const before = await open();
      before.send({ type: 'ping' });
      expect((await before.closed).code).toBe(WS_CLOSE.protocolError);
      const notJson = await authed(user());
      notJson.send('{nope');
      expect((await notJson.closed).code).toBe(WS_CLOSE.protocolError);
      const unknown = await authed(user());
      unknown.send({ type: 'subscribe' });
      expect((await unknown.closed).code).toBe(WS_CLOSE.protocolError);
    });

    it('closes on a message larger than the limit (1009)', async () => {
      const s = await open();
      s.send({ type: 'auth', token: 'x'.repeat(70 * 1024) });
      expect((await s.closed).code).toBe(WS_CLOSE.messageTooBig);
    });

    it('caps the sockets of one user (4008)', async () => {
      const u = user();
      for (let i = 0; i < 3; i++) await authed(u);
      const fourth = await open();
      fourth.send({ type: 'auth', token: await ts.token(u) });
      expect(await fourth.next()).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
      expect((await fourth.closed).code).toBe(WS_CLOSE.tooManyConnections);
      await authed(user()); // another user is not affected
    });

    it('refuses unknown WebSocket paths and bad app ids', async () => {
      await expect(openSocket(ts.url, '/wsx')).rejects.toThrow(/404/);
      await expect(openSocket(ts.url, '/ws/a/b')).rejects.toThrow(/404/);
      await expect(openSocket(ts.url, '/ws/bad%20app')).rejects.toThrow(/400/);
    });

    it('notifies a unified socket of every app of its user, a legacy socket of its app only', async () => {
      const u = user();
      const unified = await authed(u);
      const legacy = await authed(u, { path: '/ws/todo' });
      await push(u, 'notes', ['pages']);
      await push(u, 'todo', ['tasks', 'lists']);
      expect(await unified.next()).toEqual({ type: 'sync-available', appId: 'notes', tables: ['pages'] });
      expect(await unified.next()).toMatchObject({ type: 'sync-available', appId: 'todo' });
      const first = await legacy.next();
      expect(first).toMatchObject({ type: 'sync-available', appId: 'todo' });
      expect(first.type === 'sync-available' && [...first.tables].sort()).toEqual(['lists', 'tasks']);
    });

    it('never tells user B about user A’s pushes', async () => {
      const a = user();
      const b = user();
      const sa = await authed(a);
      const sb = await authed(b);
      await push(a, 'todo', ['secret']);
      expect(await sa.next()).toMatchObject({ appId: 'todo', tables: ['secret'] });
      await push(b, 'todo', ['mine']);
      expect(await sb.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['mine'] });
    });

    it('does not echo a push to the socket of the client that made it', async () => {
      const u = user();
      const c1 = await authed(u, { clientId: 'client-1' });
      const c2 = await authed(u, { clientId: 'client-2' });
      const anon = await authed(u); // no clientId declared: hears everything
      await push(u, 'todo', ['tasks'], 'client-1');
      expect(await c2.next()).toMatchObject({ appId: 'todo', tables: ['tasks'] });
      expect(await anon.next()).toMatchObject({ appId: 'todo', tables: ['tasks'] });
      await push(u, 'todo', ['lists'], 'client-2');
      expect(await c1.next()).toEqual({ type: 'sync-available', appId: 'todo', tables: ['lists'] });
    });

    it('refreshes the token on an open socket (same user only)', async () => {
      const u = user();
      const s = await authed(u);
      await s.auth(await ts.auth.mint(u, { expiresIn: 600 }));
      s.send({ type: 'auth', token: await ts.token(user()) });
      expect((await s.closed).code).toBe(WS_CLOSE.unauthorized);
    });

    it('merges notifications for a socket that stops reading, and sends them once it drains', async () => {
      const u = user();
      const slow = await authed(u);
      slow.tcp.pause(); // the peer stops reading: the server's send buffer fills up
      // Each event ~3.5 kB on the wire: 20,000 of them would be ~70 MB if they were queued.
      const wide = Array.from({ length: 30 }, (_, i) => `wide_${i}_${'x'.repeat(100)}`);
      const narrow = Array.from({ length: 200 }, (_, i) => `t${i}`);
      const announce = (appId: string, list: string[]) => {
        ts.server.context.pushedEvents.publish({ userId: u, appId, tables: list, clientId: 'p' });
      };
      const events = 20_000;
      for (let i = 0; i < events; i++) {
        announce('todo', [...wide, narrow[i % narrow.length]!]);
        if (i % 500 === 0) await new Promise((r) => setImmediate(r));
      }
      announce('marker', ['last']);
      slow.tcp.resume();
      const heard = new Set<string>();
      let messages = 0;
      for (;;) {
        const m = await slow.next(10_000);
        messages++;
        if (m.type !== 'sync-available') throw new Error(`unexpected ${m.type}`);
        if (m.appId === 'marker') break;
        for (const t of m.tables) heard.add(t);
      }
      expect(heard.size).toBe(wide.length + narrow.length); // nothing lost
      expect(messages).toBeLessThan(events / 2); // but merged, not one message per event
      slow.send({ type: 'ping' });
      expect(await slow.next()).toEqual({ type: 'pong' });
    });

    it('drops a stalled socket (1013) once it is owed more than the bound', async () => {
      const u = user();
      const stalled = await authed(u);
      const wsCount = async () =>
        ((await (await fetch(`${ts.url}/health`)).json()) as { websockets: { users: number } }).websockets
          .users;
      const usersBefore = await wsCount();
      stalled.tcp.pause();
      const wide = Array.from({ length: 30 }, (_, i) => `wide_${i}_${'x'.repeat(100)}`);
      const announce = (tables: string[]) => {
        ts.server.context.pushedEvents.publish({ userId: u, appId: 'todo', tables, clientId: 'p' });
      };
      for (let i = 0; i < 10_000; i++) announce(wide); // ~35 MB if queued: fills the send buffers
      announce(Array.from({ length: 1100 }, (_, i) => `distinct_${i}`)); // more than it may be owed
      expect(await wsCount()).toBe(usersBefore - 1);
      stalled.tcp.resume();
      const closed = await stalled.closed;
      expect(closed.code).toBe(WS_CLOSE.tryAgainLater);
    });

    it('counts connections and users in /health', async () => {
      const before = (await (await fetch(`${ts.url}/health`)).json()) as {
        websockets: { connections: number; users: number };
        fanout: string;
      };
      const u = user();
      const s1 = await authed(u);
      const s2 = await authed(u);
      await push(u, 'todo', ['tasks']);
      await s1.next();
      await s2.next();
      const during = (await (await fetch(`${ts.url}/health`)).json()) as typeof before;
      expect(during.websockets.connections).toBe(before.websockets.connections + 2);
      expect(during.websockets.users).toBe(before.websockets.users + 1);
      expect(during.fanout).toBe(db.kind === 'postgres' ? 'postgres' : 'local');
      const metrics = await (await fetch(`${ts.url}/metrics`)).text();
      const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
      expect(gauge('mana_sync_ws_connections')).toBe(during.websockets.connections);
      expect(gauge('mana_sync_ws_users')).toBe(during.websockets.users);
      expect(gauge('mana_sync_ws_notifications_sent_total')).toBeGreaterThanOrEqual(2);
      s1.close();
      await s1.closed;
    });
  });

  describe(`WebSocket heartbeat and shutdown on ${name}`, () => {
    it('drops a socket that stops answering pings, keeps live ones, and says 1001 on shutdown', async () => {
      const db = await makeDb();
      const ts = await startTestServer(db, { wsHeartbeatMs: 100 });
      try {
        const health = async () =>
          ((await (await fetch(`${ts.url}/health`)).json()) as { websockets: { connections: number } })
            .websockets;
        const live = await openSocket(ts.url);
        await live.auth(await ts.token('hb'));
        const dead = await openSocket(ts.url);
        await dead.auth(await ts.token('hb'));
        expect(await health()).toEqual({ connections: 2, users: 1 });
        dead.tcp.pause(); // reads nothing more: no pongs
        for (let i = 0; i < 100 && (await health()).connections > 1; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(await health()).toEqual({ connections: 1, users: 1 });
        live.send({ type: 'ping' });
        expect(await live.next()).toEqual({ type: 'pong' });
        dead.tcp.destroy();
        const closing = ts.close();
        expect((await live.closed).code).toBe(WS_CLOSE.goingAway);
        await closing;
      } finally {
        await ts.close().catch(() => {});
        await db.drop();
      }
    });
  });
}
