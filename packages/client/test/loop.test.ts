import { createServer } from 'node:net';
import { Dexie } from 'dexie';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import { createTokenSource } from '../src/auth.js';
import { type Backoff, createBackoff } from '../src/backoff.js';
import { captureMiddleware } from '../src/capture.js';
import { createClock } from '../src/clock.js';
import { createEngine, type Engine } from '../src/engine.js';
import { LOOP_TRANSITIONS, type LoopEvent, type LoopState, type Transition } from '../src/loop-machine.js';
import { OUTBOX_TABLE } from '../src/schema.js';
import { createTransport } from '../src/transport.js';
import { eventually, newDevice, startServer, type TodoDb } from './helpers/harness.js';

/**
 * Walks SPEC.md's sync-loop table on the real engine: real Dexie (fake-indexeddb), real HTTP to
 * a real server. The only hand on the wire is a gate in front of fetch that can hold a request,
 * send it to a closed port (the network is down) or to a route that does not exist (refused).
 * Every transition any engine makes is collected; at the end they must be exactly the table's.
 */

/** `offline-after`: the answer arrives whole, then the browser goes offline (engine.abort). */
type Gate = 'pass' | 'hold' | 'down' | 'no-route' | 'offline-after';

let server: TestServer;
let closedPort: string;
const visited = new Set<string>();
const key = (t: Transition<LoopState, LoopEvent>) => `${t.from} --${t.event}--> ${t.to}`;

beforeAll(async () => {
  server = await startServer();
  // A port that refuses connections: bound, then closed.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = String((probe.address() as { port: number }).port);
  await new Promise((r) => probe.close(r));
});
afterAll(async () => {
  await server?.close();
});

interface Rig {
  engine: Engine;
  db: TodoDb;
  gates: { push: Gate; pull: Gate };
  /** Requests the gate holds; releasing one lets it through as the gate now says. */
  held: Array<() => void>;
  /** Requests that reached the gate, by kind. */
  calls: { push: number; pull: number };
  trace: Array<Transition<LoopState, LoopEvent>>;
  /** The status events the engine sent. */
  told: string[];
  write(id: string): Promise<unknown>;
  outboxCount(): Promise<number>;
  until(state: LoopState): Promise<void>;
}

async function rig(user: string, opts: { pullLimit?: number; backoff?: Backoff } = {}): Promise<Rig> {
  const db = newDevice().open();
  const tables = new Set(['todos']);
  const untracked = new WeakSet<object>();
  db.use(captureMiddleware({ tables, clock: createClock(), untracked, waitFor: (p) => Dexie.waitFor(p) }));
  await db.open();
  const gates = { push: 'pass' as Gate, pull: 'pass' as Gate };
  const held: Array<() => void> = [];
  const calls = { push: 0, pull: 0 };
  const gatedFetch: typeof fetch = async (input, init) => {
    let url = String(input);
    const kind = url.includes('/pull') ? 'pull' : 'push';
    calls[kind]++;
    if (gates[kind] === 'hold') {
      await new Promise<void>((resolve, reject) => {
        held.push(resolve);
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
      });
    }
    if (gates[kind] === 'down') url = url.replace(/:\d+\//, `:${closedPort}/`);
    if (gates[kind] === 'no-route') url = url.replace('/sync/', '/no-such-route/');
    const res = await fetch(url, init);
    if (gates[kind] !== 'offline-after') return res;
    const body = await res.text();
    engine.abort('offline');
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const tokens = createTokenSource(() => server.token(user), 60_000);
  const trace: Array<Transition<LoopState, LoopEvent>> = [];
  const told: string[] = [];
  const engine: Engine = createEngine({
    db,
    tables,
    tableList: ['todos'],
    untracked,
    user: () => tokens.subject(),
    transport: createTransport({
      url: server.url,
      appId: 'todo',
      tokens,
      fetch: gatedFetch,
      timeoutMs: 10_000,
    }),
    backoff: opts.backoff ?? createBackoff({ baseMs: 20, maxMs: 40 }),
    pushBatchSize: 500,
    pullLimit: opts.pullLimit ?? 1000,
    send: (event) => void told.push(event),
    onConflict: () => {},
    onRefused: () => {},
    onOutboxChanged: async () => {},
    onSynced: () => {},
    onLoopTransition: (t) => {
      trace.push(t);
      visited.add(key(t));
    },
  });
  return {
    engine,
    db,
    gates,
    held,
    calls,
    trace,
    told,
    write: (id) => db.todos.put({ id, title: id, done: false }),
    outboxCount: () => db.table(OUTBOX_TABLE).count(),
    until: (state) =>
      eventually(() => {
        if (engine.loop !== state) throw new Error(`loop is ${engine.loop}, not ${state}`);
      }),
  };
}

const path = (r: Rig) => r.trace.map(key);
const slowBackoff = () => createBackoff({ baseMs: 60_000, maxMs: 60_000 });

describe('the sync loop walks its table (SPEC.md, "The sync loop")', () => {
  it('a write is pushed, then the tables are pulled, and the loop rests', async () => {
    const r = await rig('walk-a');
    await r.write('a1');
    await r.engine.request({ push: true, pull: 'all' });
    expect(path(r)).toEqual([
      'idle --requested--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passDone--> idle',
    ]);
    expect(await r.outboxCount()).toBe(0);
    expect(r.calls).toEqual({ push: 1, pull: 1 });
  });

  it('requests during a push or a pull are served by another pass of the same run', async () => {
    const r = await rig('walk-b');
    await r.write('b1');
    r.gates.push = 'hold';
    const run = r.engine.request({ push: true });
    await eventually(() => expect(r.held).toHaveLength(1));
    void r.engine.request({ pull: 'all' }); // during the push
    r.gates.push = 'pass';
    r.gates.pull = 'hold';
    r.held.shift()!();
    await eventually(() => expect(r.held).toHaveLength(1));
    void r.engine.request({ pull: ['todos'] }); // during the pull
    r.gates.pull = 'pass';
    r.held.shift()!();
    await run;
    await r.until('idle');
    expect(path(r)).toEqual([
      'idle --requested--> pushing',
      'pushing --requested--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passAgain--> pushing',
      'pushing --pushed--> pulling',
      'pulling --requested--> pulling',
      'pulling --passAgain--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passDone--> idle',
    ]);
    expect(r.calls.pull).toBe(2);
    expect(await r.outboxCount()).toBe(0);
  });

  it('a write made during a long pull is pushed before the next page', async () => {
    const other = await rig('walk-c');
    for (const id of ['c1', 'c2', 'c3']) await other.write(id);
    await other.engine.request({ push: true });
    const r = await rig('walk-c', { pullLimit: 1 });
    r.gates.pull = 'hold';
    const run = r.engine.request({ pull: 'all' });
    await eventually(() => expect(r.held).toHaveLength(1));
    await r.write('mine');
    void r.engine.request({ push: true });
    r.gates.pull = 'pass';
    r.held.shift()!();
    await run;
    await r.until('idle');
    expect(path(r).slice(0, 6)).toEqual([
      'idle --requested--> pushing',
      'pushing --pushed--> pulling',
      'pulling --requested--> pulling',
      'pulling --pushWanted--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passDone--> idle',
    ]);
    expect(await r.outboxCount()).toBe(0);
    expect((await r.db.todos.toArray()).map((t) => t.id).sort()).toEqual(['c1', 'c2', 'c3', 'mine']);
  });

  it('a push that cannot reach the server waits, then retries by itself', async () => {
    const r = await rig('walk-d');
    await r.write('d1');
    r.gates.push = 'down';
    void r.engine.request({ push: true });
    await r.until('waiting');
    r.gates.push = 'pass';
    await r.until('idle');
    await eventually(async () => expect(await r.outboxCount()).toBe(0));
    expect(path(r)).toEqual([
      'idle --requested--> pushing',
      'pushing --failedRetry--> waiting',
      'waiting --retryDue--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passDone--> idle',
    ]);
  });

  it('a pull that fails waits for its retry, and a request cuts the wait short', async () => {
    const r = await rig('walk-e', { backoff: slowBackoff() });
    r.gates.pull = 'down';
    await r.engine.request({ pull: 'all' });
    expect(r.engine.loop).toBe('waiting');
    r.gates.pull = 'pass';
    const started = Date.now();
    await r.engine.request({ pull: 'all' });
    expect(r.engine.loop).toBe('idle');
    expect(Date.now() - started).toBeLessThan(30_000); // not the minute of backoff
    expect(path(r)).toEqual([
      'idle --requested--> pushing',
      'pushing --pushed--> pulling',
      'pulling --failedRetry--> waiting',
      'waiting --requested--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passDone--> idle',
    ]);
  });

  it('a refused push halts the loop: no retry until something asks again', async () => {
    const r = await rig('walk-f');
    await r.write('f1');
    r.gates.push = 'no-route';
    await r.engine.request({ push: true });
    expect(r.engine.loop).toBe('halted');
    const calls = r.calls.push;
    await new Promise((t) => setTimeout(t, 200)); // ten backoffs' worth
    expect(r.calls.push).toBe(calls);
    expect(await r.outboxCount()).toBeGreaterThan(0);
    r.gates.push = 'pass';
    await r.engine.request({ push: true });
    expect(await r.outboxCount()).toBe(0);
    expect(path(r)).toEqual([
      'idle --requested--> pushing',
      'pushing --failedHalt--> halted',
      'halted --requested--> pushing',
      'pushing --pushed--> pulling',
      'pulling --passDone--> idle',
    ]);
  });

  it('a refused pull halts the loop too', async () => {
    const r = await rig('walk-g');
    r.gates.pull = 'no-route';
    await r.engine.request({ pull: 'all' });
    expect(path(r).at(-1)).toBe('pulling --failedHalt--> halted');
  });

  it('the browser going offline as a pass ends leaves it unsynced: halted, no success told', async () => {
    const r = await rig('walk-offline');
    r.gates.pull = 'offline-after';
    await r.engine.request({ pull: 'all' });
    expect(r.engine.loop).toBe('halted');
    expect(path(r).at(-1)).toBe('pulling --failedHalt--> halted');
    expect(r.told).toEqual(['syncStarted']);
  });

  it('dispose ends the loop from every state, and nothing runs after it', async () => {
    const fresh = await rig('walk-h');
    const pushingRig = await rig('walk-h');
    await pushingRig.write('h1');
    pushingRig.gates.push = 'hold';
    void pushingRig.engine.request({ push: true });
    await pushingRig.until('pushing');
    const pullingRig = await rig('walk-h');
    pullingRig.gates.pull = 'hold';
    void pullingRig.engine.request({ pull: 'all' });
    await pullingRig.until('pulling');
    const waitingRig = await rig('walk-h', { backoff: slowBackoff() });
    waitingRig.gates.pull = 'down';
    await waitingRig.engine.request({ pull: 'all' });
    const haltedRig = await rig('walk-h');
    haltedRig.gates.pull = 'no-route';
    await haltedRig.engine.request({ pull: 'all' });

    const rigs = {
      idle: fresh,
      pushing: pushingRig,
      pulling: pullingRig,
      waiting: waitingRig,
      halted: haltedRig,
    };
    for (const [state, r] of Object.entries(rigs)) {
      expect(r.engine.loop).toBe(state);
      r.engine.dispose();
      expect(r.engine.loop).toBe('disposed');
    }
    for (const r of Object.values(rigs)) {
      r.gates.push = 'pass';
      r.gates.pull = 'pass';
      const calls = { ...r.calls };
      await r.engine.request({ push: true, pull: 'all' });
      // An aborted request settles; its failure is not told and no retry is set.
      await new Promise((t) => setTimeout(t, 100));
      expect(r.engine.loop).toBe('disposed');
      expect(r.calls).toEqual(calls);
    }
    // The write held back by the disposed push is still queued, for the next leader.
    expect(await pushingRig.outboxCount()).toBe(1);
  });

  it('every transition the table allows was taken, and no other', () => {
    const allowed = Object.entries(LOOP_TRANSITIONS).flatMap(([from, row]) =>
      Object.entries(row).flatMap(([event, to]) => (to === null ? [] : [`${from} --${event}--> ${to}`])),
    );
    expect([...visited].sort()).toEqual(allowed.sort());
  });
});
