import { type Canonical, EPOCH, formatMicros, type StreamChanges } from '@mana/sync-protocol';
import { describe, expect, it } from 'vitest';
import { sseBody } from '../../src/http/sse.js';
import type { PullResult } from '../../src/store/sync-store.js';
import type { PushedEvent, PushedListener } from '../../src/sync/pushed-event.js';
import { type EndReason, StreamFeed } from '../../src/sync/stream-feed.js';

/**
 * The stream's flow control, read through a real ReadableStream reader (what the HTTP layer
 * does, one read per block, the next only once the socket took the last) against a small
 * in-memory store: no block is made before the reader asks, one pull runs at a time, and
 * however many events arrive meanwhile a table is pulled once from its cursor.
 */
function harness(tables: string[], limit = 1000) {
  const records = new Map<string, Array<{ id: string; at: Canonical }>>();
  let clock = Date.parse('2024-01-01T00:00:00Z') * 1000;
  const write = (table: string, id: string) => {
    const list = records.get(table) ?? [];
    clock += 1;
    list.push({ id, at: formatMicros(clock) });
    records.set(table, list);
  };
  const pulls: Array<{ table: string; since: string }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let gate: Promise<void> | undefined;
  const pull = async (table: string, since: Canonical): Promise<PullResult> => {
    pulls.push({ table, since });
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      // Read first, then wait: a write during the wait is not in this page (as in a database).
      const after = (records.get(table) ?? []).filter((r) => r.at > since);
      await gate;
      await new Promise((r) => setImmediate(r));
      const page = after.slice(0, limit);
      return {
        serverChanges: page.map((r) => ({
          table,
          id: r.id,
          op: 'update',
          fields: {},
          updatedAt: r.at,
          eventId: r.at,
        })),
        syncedUntil: page.at(-1)?.at ?? since,
        hasMore: after.length > limit,
      };
    } finally {
      inFlight--;
    }
  };
  let listener: PushedListener | undefined;
  let subscribed = 0;
  const ended: EndReason[] = [];
  const stream = new StreamFeed({
    appId: 'todo',
    clientId: 'laptop',
    tables,
    since: EPOCH,
    expiresAt: undefined,
    heartbeatMs: 3_600_000,
    pull,
    subscribe: (l) => {
      listener = l;
      subscribed++;
      return () => {
        subscribed--;
      };
    },
    onBlock: () => {},
    onEnd: (reason) => ended.push(reason),
  });
  const reader = sseBody(stream, undefined).getReader();
  const decoder = new TextDecoder();
  /** The next block, or 'nothing' when none comes within `ms`. */
  const read = async (ms = 200): Promise<StreamChanges | 'nothing' | 'done'> => {
    const next = reader.read();
    const timeout = new Promise<'nothing'>((r) => setTimeout(() => r('nothing'), ms));
    const got = await Promise.race([next, timeout]);
    if (got === 'nothing') {
      pending = next;
      return 'nothing';
    }
    return decode(got);
  };
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  const decode = (got: ReadableStreamReadResult<Uint8Array>) => {
    if (got.done) return 'done' as const;
    const text = decoder.decode(got.value);
    const data = /^event: changes\ndata: (.*)\n\n$/.exec(text);
    if (!data) throw new Error(`not a changes block: ${text}`);
    return JSON.parse(data[1]!) as StreamChanges;
  };
  const event = (tables: string[], clientId = 'phone', appId = 'todo') =>
    listener!.event({ userId: 'u', appId, tables, clientId } satisfies PushedEvent);
  return {
    stream,
    write,
    pulls,
    event,
    read,
    /** The read left waiting by a 'nothing'. */
    later: async () => decode(await pending!),
    resync: () => listener!.resync(),
    hold: () => {
      let open!: () => void;
      gate = new Promise<void>((r) => {
        open = r;
      });
      return () => {
        gate = undefined;
        open();
      };
    },
    stats: () => ({ maxInFlight, subscribed, ended }),
  };
}

describe('the stream’s flow control', () => {
  it('makes no page before its reader asks, and pages one table to its end before the next', async () => {
    const h = harness(['a', 'b'], 2);
    for (let i = 0; i < 3; i++) h.write('a', `a${i}`);
    h.write('b', 'b0');
    await new Promise((r) => setTimeout(r, 50));
    expect(h.pulls).toEqual([]); // nobody read yet
    const first = await h.read();
    expect(first).toMatchObject({ table: 'a', hasMore: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(h.pulls).toHaveLength(1); // nothing made ahead
    expect(await h.read()).toMatchObject({ table: 'a', hasMore: false });
    expect(await h.read()).toMatchObject({ table: 'b', hasMore: false });
    expect(await h.read()).toBe('nothing'); // caught up: it waits
    expect(h.pulls.map((p) => p.table)).toEqual(['a', 'a', 'b']);
  });

  it('coalesces: a thousand events while the reader is busy become one pull of each named table', async () => {
    const h = harness(['a', 'b', 'c']);
    expect(await h.read()).toBe('nothing'); // catch-up of empty tables: no block
    expect(h.pulls).toHaveLength(3);
    h.write('a', 'first');
    h.event(['a']);
    expect(await h.later()).toMatchObject({ table: 'a', changes: [{ id: 'first' }] });
    // The reader is busy (no read pending): events only mark tables.
    for (let i = 0; i < 500; i++) {
      h.write('a', `a${i}`);
      h.event(['a']);
      h.write('b', `b${i}`);
      h.event(['b', 'not-followed']);
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(h.pulls).toHaveLength(4);
    const a = await h.read();
    const b = await h.read();
    expect([a, b].map((p) => (p === 'nothing' || p === 'done' ? p : [p.table, p.changes.length]))).toEqual([
      ['a', 500],
      ['b', 500],
    ]);
    expect(await h.read()).toBe('nothing');
    expect(h.pulls).toHaveLength(6);
    expect(h.stats().maxInFlight).toBe(1);
  });

  it('pulls a table again when a push names it during its pull', async () => {
    const h = harness(['a']);
    expect(await h.read()).toBe('nothing');
    const release = h.hold();
    h.write('a', 'before');
    h.event(['a']); // starts a pull, held
    await new Promise((r) => setTimeout(r, 20));
    h.write('a', 'during');
    h.event(['a']); // no second pull while one runs: the table is marked instead
    expect(h.stats().maxInFlight).toBe(1);
    release();
    expect(await h.later()).toMatchObject({ changes: [{ id: 'before' }] });
    expect(await h.read()).toMatchObject({ changes: [{ id: 'during' }] });
    expect(h.stats().maxInFlight).toBe(1);
  });

  it('ignores its own client, other apps and tables it does not follow; a resync pulls them all', async () => {
    const h = harness(['a', 'b']);
    expect(await h.read()).toBe('nothing');
    h.write('a', 'a0');
    h.write('b', 'b0');
    h.event(['a', 'b'], 'laptop'); // its own push
    h.event(['a', 'b'], 'phone', 'calendar'); // another app
    h.event(['c']);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.pulls).toHaveLength(2);
    h.resync();
    expect(await h.later()).toMatchObject({ table: 'a', changes: [{ id: 'a0' }] });
    expect(await h.read()).toMatchObject({ table: 'b', changes: [{ id: 'b0' }] });
  });

  it('ends: a waiting read gets the end, the subscription is dropped, later events do nothing', async () => {
    const h = harness(['a']);
    expect(await h.read()).toBe('nothing');
    expect(h.stats().subscribed).toBe(1);
    h.stream.end('shutdown');
    expect(await h.later()).toBe('done');
    expect(h.stats()).toMatchObject({ subscribed: 0, ended: ['shutdown'] });
    h.stream.end('client-gone');
    expect(h.stats().ended).toEqual(['shutdown']);
  });
});
