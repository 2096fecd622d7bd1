import type { Canonical, Conflict, ServerChange } from '@mana/sync-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApplyContext, type ApplyInput, applyServerChanges } from '../src/apply.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE } from '../src/schema.js';
import { newDevice, type Todo, type TodoDb } from './helpers/harness.js';

/**
 * The apply step alone, on a real (fake-indexeddb) Dexie database: local rows and pending
 * edits are written directly, then one page of server changes is applied.
 */

/** Field timestamps as servers write them: 3 fractional digits when the microseconds are zero. */
const ms3 = (s: string) => `2024-01-01T10:05:${s}Z`;
const six = (s: string) => `2024-01-01T10:05:${s}Z` as Canonical;

/**
 * A server change as it comes off the wire. Built loosely on purpose: the same page must
 * apply whether the server sends the issue-18 shape (`update`/`delete`, fields left out) or
 * an older full merged state (`insert` with every field).
 */
function wire(change: {
  id: string;
  op: string;
  fields?: Record<string, { value: unknown; updatedAt: string }>;
  deletedAt?: string;
}): ServerChange {
  return {
    table: 'todos',
    updatedAt: '2024-01-01T10:06:00.000001Z',
    eventId: '00000000-0000-4000-8000-000000000000',
    fields: {},
    ...change,
  } as unknown as ServerChange;
}

describe('applying server changes field by field', () => {
  let db: TodoDb;
  let ctx: ApplyContext;
  beforeEach(async () => {
    db = newDevice().open();
    await db.open();
    ctx = { db, tables: new Set(['todos']), untracked: new WeakSet() };
  });
  afterEach(() => db.close());

  const apply = (input: ApplyInput) => applyServerChanges(ctx, input);
  const outbox = () => db.table<OutboxRow, number>(OUTBOX_TABLE);
  const pendingEdit = (id: string, fields: OutboxRow['fields']) =>
    outbox().add({ table: 'todos', id, op: 'update', fields, at: 0 });

  it('a partial update changes only the fields it carries; the rest of the local row stays', async () => {
    await db.todos.put({ id: 'a', title: 'written here', done: false, note: 'only here' });
    const acked = await pendingEdit('other', { title: { value: 'x', updatedAt: six('00.000001') } });
    await apply({
      // The server left out title and note: this device wrote them, and it holds them.
      changes: [wire({ id: 'a', op: 'update', fields: { done: { value: true, updatedAt: ms3('01.000') } } })],
      acknowledged: [acked],
      state: [{ key: 'cursor:u:todos', value: '2024-01-01T10:06:00.000001Z' }],
    });
    expect(await db.todos.get('a')).toEqual({
      id: 'a',
      title: 'written here',
      done: true,
      note: 'only here',
    });
    // The page's bookkeeping commits with it, as before.
    expect(await outbox().count()).toBe(0);
    expect(await db.table(STATE_TABLE).get('cursor:u:todos')).toEqual({
      key: 'cursor:u:todos',
      value: '2024-01-01T10:06:00.000001Z',
    });
  });

  it('creates a record missing locally from the fields of a partial update', async () => {
    await apply({
      changes: [
        wire({
          id: 'new',
          op: 'update',
          fields: {
            title: { value: 'from another device', updatedAt: ms3('02.000') },
            done: { value: false, updatedAt: ms3('02.000') },
            deletedAt: { value: null, updatedAt: ms3('02.000') },
          },
        }),
      ],
    });
    expect(await db.todos.get('new')).toEqual({ id: 'new', title: 'from another device', done: false });
  });

  it('still applies a full merged state sent as insert (servers before issue 18)', async () => {
    await db.todos.put({ id: 'f', title: 'old', done: false });
    await apply({
      changes: [
        wire({
          id: 'f',
          op: 'insert',
          fields: {
            title: { value: 'new', updatedAt: six('03.000001') },
            done: { value: true, updatedAt: six('03.000001') },
            note: { value: null, updatedAt: six('03.000001') },
            deletedAt: { value: null, updatedAt: six('03.000001') },
          },
        }),
      ],
    });
    expect(await db.todos.get('f')).toEqual({ id: 'f', title: 'new', done: true, note: null });
  });

  it('a delete change removes the record by its deletedAt, even with the deletedAt field left out', async () => {
    await db.todos.bulkPut([
      { id: 'd1', title: 'deleted elsewhere', done: false },
      { id: 'd2', title: 'deleted here', done: false },
    ]);
    await apply({
      changes: [
        wire({
          id: 'd1',
          op: 'delete',
          deletedAt: ms3('04.000'),
          fields: { deletedAt: { value: ms3('04.000'), updatedAt: ms3('04.000') } },
        }),
        // Deleted by this device earlier (its deletedAt field is its own, so left out), and
        // another device's edit of done still goes out.
        wire({
          id: 'd2',
          op: 'delete',
          deletedAt: ms3('04.000'),
          fields: { done: { value: true, updatedAt: ms3('03.000') } },
        }),
        // A delete of a record this device does not have creates nothing.
        wire({ id: 'd3', op: 'delete', deletedAt: ms3('04.000') }),
      ],
    });
    expect(await db.todos.toArray()).toEqual([]);
  });

  it('a delete older than a pending local re-add loses; a newer one wins over a pending edit', async () => {
    await db.todos.bulkPut([
      { id: 'kept', title: 'added again here', done: false },
      { id: 'gone', title: 'edited here', done: false },
    ]);
    await pendingEdit('kept', { deletedAt: { value: null, updatedAt: six('05.000500') } });
    await pendingEdit('gone', { title: { value: 'edited here', updatedAt: six('05.000500') } });
    await apply({
      changes: [
        wire({ id: 'kept', op: 'delete', deletedAt: ms3('05.000') }),
        wire({ id: 'gone', op: 'delete', deletedAt: ms3('05.001') }),
      ],
    });
    expect(await db.todos.toArray()).toEqual([{ id: 'kept', title: 'added again here', done: false }]);
  });

  it('compares 3-digit server timestamps with 6-digit local ones by time, not as text', async () => {
    await db.todos.bulkPut([
      { id: 'p1', title: 'pending, 500 µs newer', done: false },
      { id: 'p2', title: 'pending, same instant', done: false },
      { id: 'p3', title: 'pending, 1 µs older', done: false },
    ]);
    // As text, "…06.000Z" sorts after "…06.000500Z" ('Z' > '5'): the older server value would win.
    await pendingEdit('p1', { title: { value: 'pending, 500 µs newer', updatedAt: six('06.000500') } });
    await pendingEdit('p2', { title: { value: 'pending, same instant', updatedAt: six('06.001000') } });
    await pendingEdit('p3', { title: { value: 'pending, 1 µs older', updatedAt: six('06.001999') } });
    await apply({
      changes: [
        wire({ id: 'p1', op: 'update', fields: { title: { value: 'server', updatedAt: ms3('06.000') } } }),
        wire({ id: 'p2', op: 'update', fields: { title: { value: 'server', updatedAt: ms3('06.001') } } }),
        wire({ id: 'p3', op: 'update', fields: { title: { value: 'server', updatedAt: ms3('06.002') } } }),
      ],
    });
    expect((await db.todos.orderBy('id').toArray()).map((t) => t.title)).toEqual([
      'pending, 500 µs newer',
      'pending, same instant', // a tie keeps the stored side, as on the server
      'server',
    ]);
  });

  it("a lost field takes the conflict's server value even when the change leaves that field out", async () => {
    await db.todos.bulkPut([
      { id: 'c1', title: 'lost on the server', done: false },
      { id: 'c2', title: 'typed again meanwhile', done: false },
    ]);
    // c2 was edited again while the push was in flight: that newer edit is still pending.
    await pendingEdit('c2', { title: { value: 'typed again meanwhile', updatedAt: six('07.000900') } });
    const conflict = (id: string): Conflict => ({
      table: 'todos',
      id,
      field: 'title',
      clientValue: 'lost on the server',
      clientUpdatedAt: six('06.999000'),
      // The winner was written under this same clientId (another tab), so no change carries it.
      serverValue: 'the winner',
      serverUpdatedAt: ms3('07.000'),
    });
    await apply({
      changes: [
        wire({ id: 'c1', op: 'update', fields: { done: { value: true, updatedAt: ms3('07.000') } } }),
      ],
      conflicts: [conflict('c1'), conflict('c2')],
    });
    expect(await db.todos.orderBy('id').toArray()).toEqual<Todo[]>([
      { id: 'c1', title: 'the winner', done: true },
      { id: 'c2', title: 'typed again meanwhile', done: false },
    ]);
  });
});
