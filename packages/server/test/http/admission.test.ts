import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/rate-limit.js';
import type { PushInput, PushResult } from '../../src/store/sync-store.js';
import { createAdmission } from '../../src/sync/admission.js';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * RATE_LIMIT_CONCURRENCY and RATE_LIMIT_QUEUE (admission.ts): one user's requests beyond the
 * cap wait in that user's queue, beyond the queue they are refused, and nobody else waits.
 */
describe('per-user admission of pushes and pulls', () => {
  let s: TestServer;
  /** Pushes of `heavy` stop in the store until `open()`; everybody else's go through. */
  const gate = { entered: 0, open: () => {}, opened: Promise.resolve() };
  const heavy = 'heavy-user';
  beforeAll(async () => {
    s = await startTestServer(await memoryPglite(), { rateLimitConcurrency: 2, rateLimitQueue: 1 });
    const store = s.server.context.store;
    const push = store.push.bind(store);
    gate.opened = new Promise<void>((resolve) => (gate.open = resolve));
    store.push = async (input: PushInput): Promise<PushResult> => {
      if (input.userId === heavy) {
        gate.entered++;
        await gate.opened;
      }
      return push(input);
    };
  });
  afterAll(() => s.close());

  const change = (id: string) => ({
    table: 'todos',
    id,
    op: 'insert',
    fields: { title: { value: id, updatedAt: '2024-01-01T10:00:00Z' } },
  });

  it('holds a user to 2 requests at once, queues 1 more, refuses the next; others go through', async () => {
    // Two pushes in the store: the user's two slots.
    const running = [0, 1].map((i) => s.push(heavy, 'todo', { clientId: 'c', changes: [change(`a${i}`)] }));
    while (gate.entered < 2) await new Promise((r) => setTimeout(r, 5));
    // A pull (the Hono path) waits in the user's queue.
    let pullDone = false;
    const queued = s.pull(heavy, 'todo', { collection: 'todos' }).then((res) => {
      pullDone = true;
      return res;
    });
    await new Promise((r) => setTimeout(r, 20)); // let it reach the server
    // Another user is served while the heavy user's requests run and wait.
    const other = await s.push('other-user', 'todo', { clientId: 'c', changes: [change('b')] });
    expect(other.status).toBe(200);
    expect((await s.pull('other-user', 'todo', { collection: 'todos' })).status).toBe(200);
    // The queue (1) is full: the heavy user's next request is refused, before its body is read.
    const refused = await s.push(heavy, 'todo', { clientId: 'c', changes: [change('a9')] });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(pullDone).toBe(false);
    expect(gate.entered).toBe(2);
    // The operator sees the wait (docs/operations.md, dashboard panel "Limits hit").
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toContain('mana_sync_requests_queued_total{reason="concurrency"} 1');
    // The running pushes finish: the queued pull runs and sees them.
    gate.open();
    for (const res of await Promise.all(running)) expect(res.status).toBe(200);
    const pulled = await queued;
    expect(pulled.status).toBe(200);
    expect(((await pulled.json()) as { serverChanges: unknown[] }).serverChanges).toHaveLength(2);
    // Slots and queue are free again, and forgotten.
    expect((await s.push(heavy, 'todo', { clientId: 'c', changes: [change('a3')] })).status).toBe(200);
    expect(s.server.context.admission.size()).toBe(0);
  });
});

describe('RATE_LIMIT_ROWS defaults and a client that sends one request at a time', () => {
  /** A response that closes when the test says (the slot's end). */
  const response = () => {
    const listeners: Array<() => void> = [];
    return {
      once: (_: 'close', fn: () => void) => listeners.push(fn),
      close: () => {
        for (const fn of listeners.splice(0)) fn();
      },
    };
  };

  it('lets a first sync of a 100,000-record account through without a wait or a 429', () => {
    // The defaults of config.ts: 10,000 rows a second, 20 s of them at once.
    const limiter = createRateLimiter(0, 1, 10_000);
    const admission = createAdmission({
      concurrency: 2,
      queue: 32,
      maxWaitMs: 5000,
      rowsWaitMs: limiter.rowsWaitMs,
    });
    // 100 pages of 1,000 records pulled back to back (no time passes: the fastest client),
    // each table's last page an empty one, 20 tables; then a push of the 1,000 changes made
    // meanwhile (read and written).
    const requests = [...Array.from({ length: 120 }, (_, i) => (i % 6 === 5 ? 1 : 1000)), 2000];
    for (const rows of requests) {
      const res = response();
      expect(admission.admit('first-sync', res)).toBeUndefined(); // runs at once
      limiter.charge('first-sync', rows);
      res.close();
    }
  });

  it('slows a far larger first sync to the budget, one page at a time, never refusing it', async () => {
    const limiter = createRateLimiter(0, 1, 10_000);
    const admission = createAdmission({
      concurrency: 2,
      queue: 32,
      maxWaitMs: 5000,
      rowsWaitMs: limiter.rowsWaitMs,
    });
    limiter.charge('big', 200_000); // the burst spent: 0 rows left
    for (let page = 0; page < 3; page++) {
      limiter.charge('big', 1000); // the previous page
      // Overdrawn by a page: 100 ms to wait, well within RATE_LIMIT_MAX_WAIT_MS.
      expect(limiter.rowsWaitMs('big')).toBeLessThanOrEqual(100);
      const res = response();
      const waiting = admission.admit('big', res);
      expect(waiting).toBeInstanceOf(Promise);
      await waiting;
      res.close();
    }
  });
});
