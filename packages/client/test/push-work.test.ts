import type { DBCore, DBCoreTable, Middleware } from 'dexie';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import { attach, newDevice, startServer, type TodoDb } from './helpers/harness.js';

/**
 * The client's work for one push must not grow with the backlog queued behind it: a device
 * that was offline for a day pushes in batches, and each batch costs what a batch costs. The
 * work is counted, not timed: a DBCore middleware counts the records the client reads from
 * IndexedDB (values returned by get, getMany, query and cursor steps, and the keys count()
 * walks).
 */
function readCounter(): { mw: Middleware<DBCore>; reads: () => number } {
  let reads = 0;
  const tally = <T>(n: number, value: T): T => {
    reads += n;
    return value;
  };
  const counted = (table: DBCoreTable): DBCoreTable => ({
    ...table,
    get: (req) => table.get(req).then((r) => tally(r === undefined ? 0 : 1, r)),
    getMany: (req) => table.getMany(req).then((r) => tally(r.filter((x) => x !== undefined).length, r)),
    query: (req) => table.query(req).then((r) => tally(r.result.length, r)),
    // IndexedDB counts by walking the keys: a count of n reads n records.
    count: (req) => table.count(req).then((n) => tally(n, n)),
    openCursor: (req) =>
      table.openCursor(req).then((cursor) => {
        if (!cursor) return cursor;
        reads++;
        // Every step of the cursor lands on a record.
        const step = cursor.start.bind(cursor);
        return Object.assign(Object.create(cursor), {
          start: (onNext: () => void) =>
            step(() => {
              reads++;
              onNext();
            }),
        });
      }),
  });
  const mw: Middleware<DBCore> = {
    stack: 'dbcore',
    name: 'ReadCounter',
    create: (down) => ({ ...down, table: (name) => counted(down.table(name)) }),
  };
  return { mw, reads: () => reads };
}

describe('work per push', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  /**
   * `queued` unsent changes pushed in batches of 100; the first answer carries 20 of those
   * records as another device wrote them. Counted: the records read from the first push leaving until the second one
   * leaves, i.e. applying one answer and reading the next batch.
   */
  async function readsForOnePush(user: string, queued: number): Promise<number> {
    const db: TodoDb = newDevice().open();
    const counter = readCounter();
    db.use(counter.mw);
    let posts = 0;
    let atFirstPush = -1;
    let atSecondPush = -1;
    const fetchFn: typeof fetch = (input, init) => {
      if (init?.method === 'POST' && ++posts === 1) atFirstPush = counter.reads();
      if (init?.method === 'POST' && posts === 2) {
        atSecondPush = counter.reads();
        // The second push never answers: the count covers exactly one push.
        return new Promise((_, reject) =>
          init.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
        );
      }
      return fetch(input, init);
    };
    const client = attach(db, server, user, {
      fetch: fetchFn,
      pushBatchSize: 100,
      pushDebounceMs: 3_600_000,
      pushMaxWaitMs: 3_600_000,
      pullIntervalMs: 3_600_000,
    });
    await db.open();
    for (let i = 0; i < queued; i += 1000) {
      const n = Math.min(1000, queued - i);
      await db.todos.bulkAdd(
        Array.from({ length: n }, (_, j) => ({ id: `q-${i + j}`, title: 'queued', done: false })),
      );
    }
    // Later, another device's edits of 20 of those records, spread over the backlog: the push
    // answer carries them (they are newer), and they go through the LWW check against the
    // pending edits.
    const other = newDevice().open();
    const otherClient = attach(other, server, user);
    await otherClient.start();
    await other.todos.bulkAdd(
      Array.from({ length: 20 }, (_, i) => ({ id: `q-${i * 10}`, title: 'edited elsewhere', done: true })),
    );
    await otherClient.sync();
    await otherClient.stop();
    await client.start();
    while (atSecondPush < 0) await new Promise((r) => setTimeout(r, 10));
    await client.stop({ flush: false });
    db.close();
    return atSecondPush - atFirstPush;
  }

  it('reads about as many records with 20k changes queued as with 200', async () => {
    const small = await readsForOnePush('u-work-200', 200);
    const large = await readsForOnePush('u-work-20k', 20_000);
    // A batch of 100 and its answer cost a few hundred reads whatever the backlog.
    expect(small).toBeLessThan(1000);
    expect(Math.abs(large - small)).toBeLessThanOrEqual(50);
  }, 120_000);
});
