import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import { attach, eventually, newDevice, startServer } from './helpers/harness.js';

describe('two tabs of one device (IndexedDB lease, the fallback without Web Locks)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('one tab leads, both see every change, and the other takes over when the leader closes', async () => {
    const device = newDevice();
    const tabs = [device.open(), device.open()];
    const clients = tabs.map((db) =>
      attach(db, server, 'u-tabs', { multiTab: 'lease', leaderLeaseMs: 1500 }),
    );
    for (const c of clients) await c.start();
    await eventually(() => expect(clients.filter((c) => c.status.isLeader)).toHaveLength(1));
    const li = clients[0]!.status.isLeader ? 0 : 1;
    const [leader, follower] = [clients[li]!, clients[1 - li]!];
    const [leaderDb, followerDb] = [tabs[li]!, tabs[1 - li]!];

    const elsewhere = newDevice().open();
    const ce = attach(elsewhere, server, 'u-tabs');
    await ce.start();

    // A write in the follower tab goes out through the leader's push.
    await followerDb.todos.add({ id: 'from-follower', title: 'typed in tab 2', done: false });
    await eventually(async () => {
      await ce.sync();
      expect(await elsewhere.todos.get('from-follower')).toBeTruthy();
    });
    // A change from another device lands in IndexedDB once, and both tabs read it.
    await elsewhere.todos.add({ id: 'from-elsewhere', title: 'other device', done: true });
    await ce.sync();
    await follower.sync(); // a follower's sync() asks the leader
    await eventually(async () => {
      expect(await followerDb.todos.get('from-elsewhere')).toBeTruthy();
      expect(await leaderDb.todos.get('from-elsewhere')).toBeTruthy();
    });
    await eventually(() => expect(follower.status).toMatchObject({ state: 'synced', isLeader: false }));

    await leader.stop();
    leaderDb.close();
    await eventually(() => expect(follower.status.isLeader).toBe(true));
    await followerDb.todos.update('from-elsewhere', { title: 'edited after takeover' });
    await eventually(async () => {
      await ce.sync();
      expect((await elsewhere.todos.get('from-elsewhere'))?.title).toBe('edited after takeover');
    });
    await follower.stop();
    await ce.stop();
  });
});
