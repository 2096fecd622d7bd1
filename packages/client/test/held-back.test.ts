import { formatMicros } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import type { RefusedChange, UnsyncableRecordEvent } from '../src/index.js';
import type { OutboxRow } from '../src/schema.js';
import { attach, eventually, newDevice, startServer, waitForStatus } from './helpers/harness.js';

/** Nothing is dropped silently: what cannot reach the server stays, counted, told and listed. */
describe('changes that cannot reach the server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('deleting the only record that cannot be uploaded clears the error by itself, no sync() needed', async () => {
    const device = newDevice();
    const plain = device.open({ withSync: false });
    await plain.todos.bulkAdd([
      { id: 'ok', title: 'uploads', done: false },
      { id: 'bad id!', title: 'a space in the id', done: false },
    ]);
    plain.close();
    const db = device.open();
    const client = attach(db, server, 'u-unsyncable-delete');
    await client.start();
    await waitForStatus(client, (s) => s.state === 'error' && s.pending === 1);
    await db.todos.delete('bad id!');
    await waitForStatus(client, (s) => s.state === 'synced' && s.pending === 0 && s.lastError === null);
    expect(await client.pendingChanges()).toEqual([]);
    await client.stop();
  });

  it('a record held before sync that cannot be uploaded is counted, told, listed, and goes once fixed', async () => {
    // An app that used Dexie alone: records the server would refuse, next to a good one.
    const device = newDevice();
    const plain = device.open({ withSync: false });
    await plain.todos.bulkAdd([
      { id: 'fine', title: 'uploads', done: false },
      { id: 'bad id', title: 'a space in the id', done: false },
      { id: 'bad-field', title: 'x', done: false, ['not a field name' as 'note']: 'kept' },
    ]);
    plain.close();

    const db = device.open();
    const client = attach(db, server, 'u-unsyncable');
    const told: UnsyncableRecordEvent[] = [];
    client.on('unsyncable', (e) => told.push(e));
    await client.start();
    expect(told.map((e) => [e.id, e.code])).toEqual([
      ['bad id', 'UNSYNCABLE_RECORD'],
      ['bad-field', 'UNSYNCABLE_RECORD'],
    ]);
    expect(told[0]!.message).toMatch(/id/);
    expect(told[1]!.message).toMatch(/not a field name/);
    expect(told[1]!.record).toMatchObject({ id: 'bad-field', title: 'x' });

    await client.sync();
    expect(client.status).toMatchObject({ state: 'error', pending: 2 });
    expect(client.status.lastError?.code).toBe('UNSYNCABLE_RECORD');
    expect((await client.pendingChanges()).map((c) => [c.id, c.problem?.code])).toEqual([
      ['bad id', 'UNSYNCABLE_RECORD'],
      ['bad-field', 'UNSYNCABLE_RECORD'],
    ]);
    // Sign-out lists them and, without the user's consent, keeps them.
    const report = await client.stop({ clearLocalData: true });
    expect(report.cleared).toBe(false);
    expect(report.unsynced.map((c) => c.id)).toEqual(['bad id', 'bad-field']);
    expect(await db.todos.count()).toBe(3);

    // The app fixes one and deletes the other: both leave the count, the fixed one uploads.
    await client.start();
    await db.todos.delete('bad id');
    await db.todos.put({ id: 'bad-field', title: 'x', done: false, note: 'kept' });
    await client.sync();
    expect(client.status).toMatchObject({ state: 'synced', pending: 0, lastError: null });
    const other = newDevice().open();
    const co = attach(other, server, 'u-unsyncable');
    await co.start();
    await co.sync();
    expect(await other.todos.orderBy('id').toArray()).toEqual([
      { id: 'bad-field', title: 'x', done: false, note: 'kept' },
      { id: 'fine', title: 'uploads', done: false },
    ]);
    await client.stop();
    await co.stop();
  });

  it('a change the server refuses for good is set aside with an event, and the queue goes on', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-refused-change', { pushDebounceMs: 60_000, pushMaxWaitMs: 60_000 });
    const refused: RefusedChange[] = [];
    client.on('refused', (c) => refused.push(c));
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    // Changes this client's own checks let through but the server refuses (a client of another
    // version, a server with stricter limits): queued as the capture would queue them.
    const at = formatMicros(Date.now() * 1000);
    const queued = (id: string, title: string): OutboxRow => ({
      table: 'todos',
      id,
      op: 'insert',
      fields: { title: { value: title, updatedAt: at }, deletedAt: { value: null, updatedAt: at } },
      at: Date.now(),
    });
    await db.todos.add({ id: 'before', title: 'queued before', done: false });
    await db.table('_manaSyncOutbox').add(queued('x'.repeat(300), 'an id longer than 256'));
    // Larger than any request the server reads (10 MB): refused whole, naming no change.
    await db.table('_manaSyncOutbox').add(queued('huge', 'h'.repeat(10_500_000)));
    await db.todos.add({ id: 'after', title: 'queued behind them', done: false });

    await client.sync();
    expect(refused.map((c) => [c.id.slice(0, 8), c.code])).toEqual([
      ['xxxxxxxx', 'INVALID_REQUEST'],
      ['huge', 'PAYLOAD_TOO_LARGE'],
    ]);
    expect(refused[0]).toMatchObject({
      table: 'todos',
      op: 'insert',
      fields: { title: 'an id longer than 256' },
    });
    expect(client.status).toMatchObject({ state: 'error', pending: 0 });
    expect(client.status.lastError?.code).toBe('CHANGE_REFUSED');
    expect((await client.refusedChanges()).map((c) => c.id.slice(0, 8))).toEqual(['xxxxxxxx', 'huge']);

    // The rest went, and the queue keeps going.
    await db.todos.add({ id: 'later', title: 'written afterwards', done: false });
    await client.sync();
    const other = newDevice().open();
    const co = attach(other, server, 'u-refused-change');
    await co.start();
    await co.sync();
    expect((await other.todos.toArray()).map((t) => t.id).sort()).toEqual(['after', 'before', 'later']);

    // Sign-out lists the refused changes too; once the app let them go, the status clears.
    const report = await client.stop({ flush: false });
    expect(report.unsynced.map((c) => [c.id.slice(0, 8), c.problem?.code])).toEqual([
      ['xxxxxxxx', 'INVALID_REQUEST'],
      ['huge', 'PAYLOAD_TOO_LARGE'],
    ]);
    await client.start();
    await client.discardRefused();
    await eventually(() => expect(client.status).toMatchObject({ state: 'synced', lastError: null }));
    expect(await client.refusedChanges()).toEqual([]);
    await client.stop();
    await co.stop();
  }, 60_000);
});
