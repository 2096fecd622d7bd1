import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import type { ConflictEvent } from '../src/index.js';
import { attach, eventually, newDevice, startServer } from './helpers/harness.js';

describe('two clients of one user', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('converge: a record written on one appears on the other', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const ca = attach(a, server, 'u-converge');
    const cb = attach(b, server, 'u-converge');
    await ca.start();
    await cb.start();
    await a.todos.add({ id: 't1', title: 'Buy milk', done: false });
    await a.todos.bulkPut([
      { id: 't2', title: 'Two', done: false },
      { id: 't3', title: 'Three', done: true },
    ]);
    // No sync() on A: the debounced push must send the writes by itself.
    await eventually(async () => {
      await cb.sync();
      expect(await b.todos.orderBy('id').toArray()).toEqual([
        { id: 't1', title: 'Buy milk', done: false },
        { id: 't2', title: 'Two', done: false },
        { id: 't3', title: 'Three', done: true },
      ]);
    });
    await eventually(() => expect(ca.status.pending).toBe(0));
    expect(cb.status.state).toBe('synced');
    // Applying server changes is not itself a change to push back.
    expect(await cb.pendingChanges()).toEqual([]);
    await ca.stop();
    await cb.stop();
  });

  it('merges offline edits of different fields, and the later edit of one field wins', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const ca = attach(a, server, 'u-merge');
    const cb = attach(b, server, 'u-merge');
    await ca.start();
    await cb.start();
    await a.todos.add({ id: 'm1', title: 'Draft', done: false, note: 'n0' });
    await ca.sync();
    await cb.sync();
    expect(await b.todos.get('m1')).toEqual({ id: 'm1', title: 'Draft', done: false, note: 'n0' });

    // Both "offline": stop, edit, come back.
    await ca.stop({ flush: false });
    await cb.stop({ flush: false });
    await a.todos.update('m1', { title: 'Title from A', note: 'note from A' });
    await new Promise((r) => setTimeout(r, 5));
    await b.todos.update('m1', { done: true, note: 'note from B (later)' });

    const conflicts: unknown[] = [];
    ca.on('conflict', (c) => conflicts.push(c));
    await ca.start();
    await cb.start();
    await ca.sync();
    await cb.sync();
    await ca.sync();
    const expected = { id: 'm1', title: 'Title from A', done: true, note: 'note from B (later)' };
    expect(await a.todos.get('m1')).toEqual(expected);
    expect(await b.todos.get('m1')).toEqual(expected);
    await ca.stop();
    await cb.stop();
  });

  it('reports a lost edit as a conflict with both values, and restore() brings it back', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const ca = attach(a, server, 'u-conflict');
    const cb = attach(b, server, 'u-conflict');
    await ca.start();
    await cb.start();
    await a.todos.add({ id: 'c1', title: 'Original', done: false });
    await ca.sync();
    await cb.sync();
    await ca.stop({ flush: false });
    await cb.stop({ flush: false });
    await a.todos.update('c1', { title: 'A (earlier)' });
    await new Promise((r) => setTimeout(r, 5));
    await b.todos.update('c1', { title: 'B (later)' });
    await cb.start();
    await cb.sync();
    const conflicts: Array<{ field: string; localValue: unknown; serverValue: unknown }> = [];
    ca.on('conflict', (c) => conflicts.push(c));
    await ca.start();
    await ca.sync();
    expect(conflicts).toMatchObject([
      { table: 'todos', id: 'c1', field: 'title', localValue: 'A (earlier)', serverValue: 'B (later)' },
    ]);
    expect((await a.todos.get('c1'))?.title).toBe('B (later)');
    const [conflict] = conflicts as Parameters<typeof ca.restore>[0][];
    await ca.restore(conflict!);
    await ca.sync();
    await cb.sync();
    expect((await b.todos.get('c1'))?.title).toBe('A (earlier)');
    await ca.stop();
    await cb.stop();
  });

  for (const first of ['the device with the earlier edit', 'the device with the later edit'] as const) {
    it(`tells the device whose earlier edit lost, with both values, when ${first} syncs first`, async () => {
      const user = `u-overwrite-${first === 'the device with the earlier edit' ? 'early' : 'late'}`;
      const a = newDevice().open();
      const b = newDevice().open();
      const ca = attach(a, server, user);
      const cb = attach(b, server, user);
      const told = { a: [] as ConflictEvent[], b: [] as ConflictEvent[] };
      ca.on('conflict', (c) => told.a.push(c));
      cb.on('conflict', (c) => told.b.push(c));
      await ca.start();
      await cb.start();
      await a.todos.add({ id: 'o1', title: 'Original', done: false });
      await ca.sync();
      await cb.sync();
      // Both offline; A edits, then B edits the same field later, neither seeing the other.
      await ca.stop({ flush: false });
      await cb.stop({ flush: false });
      await a.todos.update('o1', { title: 'A (earlier)' });
      await new Promise((r) => setTimeout(r, 5));
      await b.todos.update('o1', { title: 'B (later)' });
      const order = first === 'the device with the earlier edit' ? [ca, cb, ca] : [cb, ca, cb];
      for (const c of order) {
        await c.start();
        await c.sync();
      }
      await ca.sync();
      await cb.sync();
      expect(told.a).toMatchObject([
        { table: 'todos', id: 'o1', field: 'title', localValue: 'A (earlier)', serverValue: 'B (later)' },
      ]);
      expect(told.b).toEqual([]);
      expect((await a.todos.get('o1'))?.title).toBe('B (later)');
      expect((await b.todos.get('o1'))?.title).toBe('B (later)');
      await ca.stop();
      await cb.stop();
    });
  }

  it('an edit made after the other device could see the overwritten one is news, not a conflict', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const ca = attach(a, server, 'u-informed');
    const cb = attach(b, server, 'u-informed');
    const told: ConflictEvent[] = [];
    ca.on('conflict', (c) => told.push(c));
    cb.on('conflict', (c) => told.push(c));
    await ca.start();
    await cb.start();
    await a.todos.add({ id: 'i1', title: 'Original', done: false });
    await ca.sync();
    await a.todos.update('i1', { title: 'A' });
    await ca.sync();
    await cb.sync();
    expect((await b.todos.get('i1'))?.title).toBe('A');
    await b.todos.update('i1', { title: 'B, having read A' });
    await cb.sync();
    await ca.sync();
    expect((await a.todos.get('i1'))?.title).toBe('B, having read A');
    expect(told).toEqual([]);
    await ca.stop();
    await cb.stop();
  });

  it('a record deleted and added again with fewer fields ends the same on every device', async () => {
    const [a, b, c] = [newDevice().open(), newDevice().open(), newDevice().open()];
    const [ca, cb, cc] = [
      attach(a, server, 'u-readd'),
      attach(b, server, 'u-readd'),
      attach(c, server, 'u-readd'),
    ];
    await ca.start();
    await cb.start();
    await a.todos.put({ id: 'r', title: 'v1', done: true });
    await ca.sync();
    await cb.sync();
    await b.todos.update('r', { note: 'from B' });
    await b.todos.delete('r');
    await cb.sync();
    await ca.sync();
    expect(await a.todos.get('r')).toBeUndefined();
    // Added again with only a title: the fields it leaves out come back from the server, on
    // the device that wrote them too (it dropped them with the delete).
    await b.todos.add({ id: 'r', title: 'v2' } as never);
    await cb.sync();
    await ca.sync();
    await cb.sync();
    await cc.start();
    await cc.sync();
    const expected = { id: 'r', title: 'v2', done: true, note: 'from B' };
    expect(await c.todos.get('r')).toEqual(expected);
    expect(await a.todos.get('r')).toEqual(expected);
    expect(await b.todos.get('r')).toEqual(expected);
    for (const client of [ca, cb, cc]) await client.stop();
  });

  it('propagates a delete', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const ca = attach(a, server, 'u-delete');
    const cb = attach(b, server, 'u-delete');
    await ca.start();
    await cb.start();
    await a.todos.bulkAdd([
      { id: 'd1', title: 'keep', done: false },
      { id: 'd2', title: 'delete me', done: false },
      { id: 'd3', title: 'clear me', done: true },
    ]);
    await ca.sync();
    await cb.sync();
    expect(await b.todos.count()).toBe(3);
    await b.todos.delete('d2');
    await b.todos.where('done').equals(1).delete(); // no match: booleans are not indexable
    await b.todos.filter((t) => t.done).delete();
    await cb.sync();
    await ca.sync();
    expect((await a.todos.toArray()).map((t) => t.id)).toEqual(['d1']);
    // Re-adding a deleted id undeletes it everywhere.
    await a.todos.add({ id: 'd2', title: 'back', done: false });
    await ca.sync();
    await cb.sync();
    expect(await b.todos.get('d2')).toEqual({ id: 'd2', title: 'back', done: false });
    await ca.stop();
    await cb.stop();
  });
});
