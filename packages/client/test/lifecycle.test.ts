import { LIMITS } from '@mana/sync-protocol';
import { Dexie } from 'dexie';
import { IDBKeyRange } from 'fake-indexeddb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../server/src/db/sql.js';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import { syncStores } from '../src/index.js';
import { attach, eventually, newDevice, startServer, type TodoDb, waitForStatus } from './helpers/harness.js';
import { seed } from './helpers/seed.js';

describe('data that outlives a page', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('uploads records that existed before sync was attached, merged with what the server has', async () => {
    const other = newDevice().open();
    const co = attach(other, server, 'u-adopt');
    await co.start();
    await other.todos.add({ id: 'shared', title: 'server title', done: true });
    await co.sync();

    // An app that used Dexie alone until now (or a guest before signing in).
    const device = newDevice();
    const plain = device.open({ withSync: false });
    await plain.todos.bulkAdd([
      { id: 'local-1', title: 'guest todo', done: false },
      { id: 'local-2', title: 'another', done: true },
      { id: 'shared', title: 'stale local title', done: false, note: 'only local' },
    ]);
    plain.close();

    const db = device.open();
    const client = attach(db, server, 'u-adopt');
    const conflicts: unknown[] = [];
    client.on('conflict', (c) => conflicts.push(c));
    await client.start();
    await client.sync();
    await co.sync();
    const expected = [
      { id: 'local-1', title: 'guest todo', done: false },
      { id: 'local-2', title: 'another', done: true },
      // The server's fields stay; the field it lacked is added. One record, not two.
      { id: 'shared', title: 'server title', done: true, note: 'only local' },
    ];
    expect(await other.todos.orderBy('id').toArray()).toEqual(expected);
    expect(await db.todos.orderBy('id').toArray()).toEqual(expected);
    expect(conflicts).toEqual([]);
    // Capture is on in the session that upgraded the schema.
    await db.todos.update('local-1', { done: true });
    expect(await client.pendingChanges()).toEqual([
      { table: 'todos', id: 'local-1', op: 'update', fields: ['done'] },
    ]);
    await client.sync();

    // Adoption happens once: a reload does not queue the records again.
    await client.stop();
    db.close();
    const again = device.open();
    const c2 = attach(again, server, 'u-adopt');
    await c2.start();
    expect(c2.status.pending).toBe(0);
    expect(await c2.pendingChanges()).toEqual([]);
    await c2.stop();
    await co.stop();
  });

  it('keeps a pending edit across a reload and pushes it afterwards', async () => {
    const device = newDevice();
    const db = device.open();
    // A long debounce: the page "closes" before the push.
    const client = attach(db, server, 'u-reload', { pushDebounceMs: 60_000, pushMaxWaitMs: 60_000 });
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    await db.todos.add({ id: 'r1', title: 'written before reload', done: false });
    await db.todos.update('r1', { done: true });
    expect(await client.pendingChanges()).toEqual([
      { table: 'todos', id: 'r1', op: 'insert', fields: ['title', 'done', 'deletedAt'] },
    ]);
    const report = await client.stop({ flush: false });
    expect(report.unsynced).toHaveLength(1);
    db.close();

    const reloaded = device.open();
    const after = attach(reloaded, server, 'u-reload');
    await after.start();
    await after.sync();
    expect(after.status.pending).toBe(0);
    const other = newDevice().open();
    const co = attach(other, server, 'u-reload');
    await co.start();
    await co.sync();
    expect(await other.todos.get('r1')).toEqual({ id: 'r1', title: 'written before reload', done: true });
    await after.stop();
    await co.stop();
  });

  it('pushes a write made during a long first sync without waiting for the sync to end', async () => {
    const n = 20_000;
    await seed(server, 'u-longsync', n);
    const db = newDevice().open();
    const client = attach(db, server, 'u-longsync', { pullLimit: 200 });
    await client.start();
    await eventually(async () => expect(await db.todos.count()).toBeGreaterThan(0), 20_000, 5);
    await db.todos.add({ id: 'typed-meanwhile', title: 'during the first sync', done: false });
    const other = newDevice().open();
    const co = attach(other, server, 'u-longsync', { pullLimit: 10_000 });
    await co.start();
    // The other device has it while this one is still pulling the account.
    await eventually(
      async () => {
        await co.sync();
        expect(await other.todos.get('typed-meanwhile')).toBeTruthy();
      },
      30_000,
      50,
    );
    expect(await db.todos.count()).toBeLessThan(n + 1);
    expect(client.status.state).toBe('syncing');
    await client.sync();
    expect(await db.todos.count()).toBe(n + 1);
    await client.stop();
    await co.stop();
  }, 120_000);

  it('refuses a write the server could not store, in the app call, without queueing it', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-invalid');
    await client.start();
    await expect(db.todos.add({ id: 'bad id with spaces', title: 'x', done: false })).rejects.toThrow(/id/);
    await expect(
      db.todos.add({ id: 'fn', title: 'x', done: false, note: (() => 'x') as unknown as string }),
    ).rejects.toThrow(/todos\/fn\.note: a function cannot sync/);
    expect(await db.todos.count()).toBe(0);
    expect(await client.pendingChanges()).toEqual([]);
    await client.stop();
  });

  it('refuses at the write a record over the size limits the server keeps, and keeps one imported over them editable', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-sizes');
    await client.start();
    const huge = 'x'.repeat(LIMITS.maxValueLength);
    await expect(db.todos.add({ id: 'big', title: huge, done: false })).rejects.toThrow(
      /big\.title: .*more than 524288/,
    );
    const wide = Object.fromEntries(
      Array.from({ length: LIMITS.maxFieldsPerRecord }, (_, i) => [`f${i}`, i]),
    );
    await expect(db.todos.put({ id: 'wide', title: 'x', done: false, ...wide })).rejects.toThrow(
      /more than 1000/,
    );
    expect(await db.todos.count()).toBe(0);
    expect(await client.pendingChanges()).toEqual([]);

    // A record over the limits that came from the server (seeded through SQL, as the user).
    await db.todos.add({ id: 'imported', title: 'x', done: false });
    await client.sync();
    await server.server.db!.forUser('u-sizes').query(sql`
      UPDATE sync_records SET
        data = data || (SELECT jsonb_object_agg('f' || i, i) FROM generate_series(1, 1100) i),
        field_timestamps = field_timestamps
          || (SELECT jsonb_object_agg('f' || i, field_timestamps->'title') FROM generate_series(1, 1100) i),
        updated_at = clock_timestamp()
      WHERE user_id = 'u-sizes' AND record_id = 'imported'`);
    const other = newDevice().open();
    const co = attach(other, server, 'u-sizes');
    await co.start();
    await co.sync();
    const imported = (await other.todos.get('imported')) as unknown as Record<string, unknown>;
    expect(Object.keys(imported)).toHaveLength(1103);
    await other.todos.put({ ...imported, title: 'edited' } as never);
    await expect(other.todos.put({ ...imported, extra: 1 } as never)).rejects.toThrow(/more than 1000/);
    await co.sync();
    expect(co.status.lastError).toBeNull();
    expect(await co.pendingChanges()).toEqual([]);
    await client.sync();
    expect((await db.todos.get('imported'))?.title).toBe('edited');
    await co.stop();
    await client.stop();
  });

  it('a write followed at once by stop({clearLocalData}) reaches the server before the device is cleared', async () => {
    const db = newDevice().open();
    // No debounced push can carry the write: only stop() can.
    const client = attach(db, server, 'u-signout-now', { pushDebounceMs: 60_000, pushMaxWaitMs: 60_000 });
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    await db.todos.put({ id: 'last-word', title: 'written just before sign-out', done: false });
    const report = await client.stop({ clearLocalData: true });
    expect(report).toEqual({ unsynced: [], cleared: true });
    expect(await db.todos.count()).toBe(0);
    const other = newDevice().open();
    const co = attach(other, server, 'u-signout-now');
    await co.start();
    await co.sync();
    expect(await other.todos.get('last-word')).toEqual({
      id: 'last-word',
      title: 'written just before sign-out',
      done: false,
    });
    await co.stop();
  });

  it('names what is wrong with the schema: a synced table missing, the sync tables missing', async () => {
    const device = newDevice();
    const noTable = new Dexie('mana', { indexedDB: device.indexedDB, IDBKeyRange }) as TodoDb;
    noTable.version(1).stores({ notes: 'id', ...syncStores });
    await expect(attach(noTable, server, 'u-schema').start()).rejects.toThrow(
      /synced table todos is not in the database's schema/,
    );
    const noSync = new Dexie('mana-2', { indexedDB: device.indexedDB, IDBKeyRange }) as TodoDb;
    noSync.version(1).stores({ todos: 'id' });
    await expect(attach(noSync, server, 'u-schema').start()).rejects.toThrow(
      /_manaSyncOutbox is missing; add \.\.\.syncStores/,
    );
  });

  it('counts a write made while idle as pending: before start() and after stop()', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-idle-pending');
    await db.todos.put({ id: 'early', title: 'before start', done: false });
    await eventually(() => expect(client.status.pending).toBe(1));
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced' && s.pending === 0);
    await client.stop();
    await db.todos.put({ id: 'late', title: 'after stop', done: false });
    await eventually(() => expect(client.status).toMatchObject({ state: 'idle', pending: 1 }));
  });

  it('after sign-out, the next user to sign in on the device syncs as that user, never the last one', async () => {
    const db = newDevice().open();
    let user = 'u-switch-alice';
    const client = attach(db, server, user, { getToken: () => server.token(user) });
    await client.start();
    await db.todos.put({ id: 'alices', title: 'only for alice', done: false });
    await waitForStatus(client, (s) => s.state === 'synced' && s.pending === 0);
    expect(await client.stop({ clearLocalData: true })).toEqual({ unsynced: [], cleared: true });
    user = 'u-switch-bob';
    await client.start();
    await db.todos.put({ id: 'bobs', title: 'only for bob', done: false });
    await waitForStatus(client, (s) => s.state === 'synced' && s.pending === 0);
    await client.sync();
    expect((await db.todos.toArray()).map((t) => t.id)).toEqual(['bobs']);
    await client.stop({ clearLocalData: true });
    // What each user's other device gets.
    for (const [who, ids] of [
      ['u-switch-alice', ['alices']],
      ['u-switch-bob', ['bobs']],
    ] as const) {
      const other = newDevice().open();
      const co = attach(other, server, who);
      await co.start();
      await co.sync();
      expect((await other.todos.toArray()).map((t) => t.id)).toEqual(ids);
      await co.stop();
    }
  });

  it('stop({clearLocalData}) reports what did not reach the server and leaves it, until told to discard it', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-signout', { pushDebounceMs: 60_000, pushMaxWaitMs: 60_000 });
    await client.start();
    await db.todos.add({ id: 's1', title: 'synced', done: false });
    await client.sync();
    await db.todos.add({ id: 's2', title: 'never sent', done: false });
    // Server unreachable for the flush, as on a plane: the change cannot go out.
    const report = await client.stop({ flush: false, clearLocalData: true });
    expect(report.cleared).toBe(false);
    expect(report.unsynced.map((c) => c.id)).toEqual(['s2']);
    expect(await db.todos.orderBy('id').toArray()).toEqual([
      { id: 's1', title: 'synced', done: false },
      { id: 's2', title: 'never sent', done: false },
    ]);
    expect(await client.pendingChanges()).toHaveLength(1);
    expect(client.status.state).toBe('idle');
    // The app warned the user, who chose to sign out anyway.
    const discarded = await client.stop({ clearLocalData: true, discardUnsynced: true });
    expect(discarded.unsynced.map((c) => c.id)).toEqual(['s2']);
    expect(discarded.cleared).toBe(true);
    expect(await db.todos.count()).toBe(0);
    expect(await client.pendingChanges()).toEqual([]);
    // The next user starts from scratch: nothing of the previous one is uploaded.
    const next = attach(newDevice().open(), server, 'u-signout');
    await next.start();
    await next.sync();
    await eventually(async () => expect(await next.pendingChanges()).toEqual([]));
    await next.stop();
  });
});
