import { describe, expect, it } from 'vitest';
import { NotificationQueue } from '../../src/realtime/notification-queue.js';
import { PendingEvents } from '../../src/realtime/pending-events.js';

describe('NotificationQueue (what a slow socket is owed)', () => {
  it('merges notifications per app into the union of tables', () => {
    const q = new NotificationQueue(100);
    expect(q.empty).toBe(true);
    for (let i = 0; i < 1000; i++) q.add('todo', [i % 2 ? 'tasks' : 'lists']);
    q.add('notes', ['pages']);
    q.add('todo', ['tasks', 'tags']);
    expect(q.take()).toEqual([
      { appId: 'todo', tables: ['lists', 'tasks', 'tags'] },
      { appId: 'notes', tables: ['pages'] },
    ]);
    expect(q.empty).toBe(true);
    expect(q.take()).toEqual([]);
  });

  it('refuses past its bound and adds nothing then', () => {
    const q = new NotificationQueue(4); // app + table pairs, the app counting once
    expect(q.add('todo', ['a', 'b'])).toBe(true);
    expect(q.add('todo', ['a', 'c'])).toBe(true);
    expect(q.add('notes', ['x'])).toBe(false);
    expect(q.add('todo', ['a'])).toBe(true); // nothing new: free
    expect(q.take()).toEqual([{ appId: 'todo', tables: ['a', 'b', 'c'] }]);
  });
});

describe('PendingEvents (a NOTIFY batch)', () => {
  const ev = (userId: string, tables: string[], clientId = 'c') => ({
    userId,
    appId: 'todo',
    tables,
    clientId,
  });

  it('merges events of one user, app and client; keeps others apart', () => {
    const p = new PendingEvents(10);
    p.add(ev('u1', ['a']));
    p.add(ev('u1', ['b']));
    p.add(ev('u1', ['a'], 'other'));
    p.add(ev('u2', ['a']));
    expect(p.take()).toEqual({
      resync: false,
      events: [ev('u1', ['a', 'b']), ev('u1', ['a'], 'other'), ev('u2', ['a'])],
    });
    expect(p.size).toBe(0);
  });

  it('turns into one resync past its bound, and restores a failed batch', () => {
    const p = new PendingEvents(2);
    p.add(ev('u1', ['a']));
    p.add(ev('u2', ['a']));
    p.add(ev('u3', ['a']));
    const batch = p.take();
    expect(batch).toEqual({ resync: true, events: [] });
    p.restore(batch);
    expect(p.take().resync).toBe(true);
    p.restore({ resync: false, events: [ev('u1', ['a'])] });
    p.add(ev('u1', ['b']));
    expect(p.take()).toEqual({ resync: false, events: [ev('u1', ['a', 'b'])] });
  });
});
