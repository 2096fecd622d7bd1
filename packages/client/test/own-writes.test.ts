import { HEADER } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import { attach, newDevice, startServer } from './helpers/harness.js';

/**
 * The server leaves out of its answers the fields a client wrote itself (its own write is what
 * the server holds), keyed by the X-Client-Id header. A device that clears its data must
 * therefore come back under a new id, or it would never receive its own records again.
 */
describe("a device's own writes", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  /** fetch that notes the X-Client-Id of every request. */
  function recordingFetch() {
    const ids: string[] = [];
    const fetchFn: typeof fetch = (input, init) => {
      ids.push(new Headers(init?.headers).get(HEADER.clientId) ?? '(none)');
      return fetch(input, init);
    };
    return { ids, fetchFn };
  }

  it('clearing local data makes a new clientId, and the emptied device gets its own records back whole', async () => {
    const device = newDevice();
    const db = device.open();
    const seen = recordingFetch();
    const client = attach(db, server, 'u-clear-id', { fetch: seen.fetchFn });
    await client.start();
    await db.todos.bulkAdd([
      { id: 'o1', title: 'written on this device', done: false, note: 'mine' },
      { id: 'o2', title: 'also mine', done: true },
    ]);
    await client.sync();
    const before = new Set(seen.ids);
    expect(before.size).toBe(1);

    // Sign-out on a shared device, then the same user signs in again.
    await client.stop({ clearLocalData: true });
    expect(await db.todos.count()).toBe(0);
    seen.ids.length = 0;
    await client.start();
    await client.sync();
    const after = new Set(seen.ids);
    expect(after.size).toBe(1);
    const [oldId] = before;
    const [newId] = after;
    expect(newId).not.toBe(oldId);
    expect(await db.todos.orderBy('id').toArray()).toEqual([
      { id: 'o1', title: 'written on this device', done: false, note: 'mine' },
      { id: 'o2', title: 'also mine', done: true },
    ]);
    await client.stop();
    db.close();

    // The new id is the device's from now on: a reload keeps it.
    const reloaded = device.open();
    const again = recordingFetch();
    const c2 = attach(reloaded, server, 'u-clear-id', { fetch: again.fetchFn });
    await c2.start();
    await c2.sync();
    expect(new Set(again.ids)).toEqual(new Set([newId]));
    await c2.stop();
  });

  // Waits for the server side of issue 18 (echo in pulls): fails until it lands.
  it('a pull under the id that wrote the records leaves them out (why clearing needs a new id)', async () => {
    const db = newDevice().open();
    const seen = recordingFetch();
    const client = attach(db, server, 'u-echo-pull', { fetch: seen.fetchFn });
    await client.start();
    await db.todos.add({ id: 'e1', title: 'mine', done: false });
    await client.sync();
    const [writer] = new Set(seen.ids);
    await client.stop();

    const pull = async (clientId: string) => {
      const res = await server.pull(
        'u-echo-pull',
        'todo',
        { collection: 'todos' },
        { [HEADER.clientId]: clientId },
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as { serverChanges: Array<{ id: string }> }).serverChanges.map((c) => c.id);
    };
    expect(await pull('c-another-device')).toEqual(['e1']);
    expect(await pull(writer!)).toEqual([]);
  });
});
