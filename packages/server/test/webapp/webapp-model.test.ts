import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyServerChanges, invalidReason, type LocalStore } from './webapp-apply.js';
import { WebAppClient } from './webapp-model.js';
import { parseSseBlocks } from './webapp-sse.js';

/**
 * The web-app model itself, without our server: it must behave as the engine description
 * says, quirks included, or the conformance suite would prove nothing. These pass on any
 * server; webapp-conformance*.test.ts is where the server is judged.
 */
const now = () => '2099-01-01T00:00:00.000Z';
const T1 = '2024-01-01T10:00:00.001Z';
const T2 = '2024-01-01T10:00:00.002Z';

function storeWith(records: Record<string, Record<string, unknown>>): LocalStore {
  const t = new Map(
    Object.entries(records).map(([id, r]) => [id, { id, __fieldTimestamps: {}, ...r } as never]),
  );
  return new Map([['todos', t]]);
}

describe('the web-app model: applyServerChanges', () => {
  it('drops what isValidSyncChange refuses, deletedAt: null included', () => {
    expect(invalidReason({ table: 'todos', id: 'a', op: 'update', deletedAt: null })).toMatch(/deletedAt/);
    expect(invalidReason({ table: 'todos', id: 'a', op: 'upsert' })).toMatch(/op/);
    expect(invalidReason({ table: '', id: 'a', op: 'update' })).toMatch(/table/);
    expect(invalidReason({ table: 't', id: 'a', op: 'update', fields: { x: { updatedAt: T1 } } })).toMatch(
      /value/,
    );
    expect(invalidReason({ table: 't', id: 'a', op: 'insert', data: null })).toMatch(/data/);
    expect(invalidReason({ table: 't', id: 'a', op: 'delete', deletedAt: T1 })).toBeNull();
    const store = storeWith({});
    const report = applyServerChanges(
      store,
      [{ table: 'todos', id: 'a', op: 'update', deletedAt: null }],
      now,
    );
    expect(report.dropped).toHaveLength(1);
    expect(store.get('todos')?.size).toBe(0);
  });

  it('applies an insert without data from the change object itself (what today’s server answers would do)', () => {
    const store = storeWith({});
    const change = {
      table: 'todos',
      id: 'a',
      op: 'insert',
      fields: { title: { value: 'x', updatedAt: T1 } },
      updatedAt: T2,
    };
    applyServerChanges(store, [change], now);
    const rec = store.get('todos')?.get('a');
    expect(rec?.title).toBeUndefined();
    expect(rec?.fields).toEqual(change.fields);
    expect(rec?.__fieldTimestamps.op).toBe(T2);
  });

  it('inserts from data at the record time; updates per field with string comparisons (>=: a tie takes the server value)', () => {
    const store = storeWith({});
    applyServerChanges(
      store,
      [{ table: 'todos', id: 'a', op: 'insert', data: { title: 'x', done: false, updatedAt: T1 } }],
      now,
    );
    expect(store.get('todos')?.get('a')).toMatchObject({
      title: 'x',
      __fieldTimestamps: { title: T1, done: T1 },
    });
    applyServerChanges(
      store,
      [
        {
          table: 'todos',
          id: 'a',
          op: 'update',
          fields: {
            title: { value: 'tie', updatedAt: T1 },
            done: { value: true, updatedAt: '2024-01-01T10:00:00Z' },
          },
        },
      ],
      now,
    );
    // Plain string comparison: '…00Z' sorts ABOVE '…00.001Z' ('Z' > '.'), so this older write
    // wins on the web app. The server must never send a time without its fractional digits.
    expect(store.get('todos')?.get('a')).toMatchObject({ title: 'tie', done: true });
    // A 6-digit time of the same millisecond compares BELOW the 3-digit one ('0' < 'Z').
    applyServerChanges(
      store,
      [
        {
          table: 'todos',
          id: 'a',
          op: 'update',
          fields: { title: { value: 'micro', updatedAt: '2024-01-01T10:00:00.001500Z' } },
        },
      ],
      now,
    );
    expect(store.get('todos')?.get('a')?.title).toBe('tie');
  });

  it('rebuilds a missing record from fields; soft-deletes under LWW without applying the fields; skips a delete of nothing', () => {
    const store = storeWith({});
    applyServerChanges(
      store,
      [{ table: 'todos', id: 'b', op: 'update', fields: { title: { value: 'y', updatedAt: T1 } } }],
      now,
    );
    expect(store.get('todos')?.get('b')).toEqual({ id: 'b', title: 'y', __fieldTimestamps: { title: T1 } });
    applyServerChanges(
      store,
      [
        {
          table: 'todos',
          id: 'b',
          op: 'delete',
          deletedAt: T2,
          fields: { title: { value: 'gone', updatedAt: T2 } },
        },
        { table: 'todos', id: 'nothing', op: 'delete', deletedAt: T2 },
      ],
      now,
    );
    expect(store.get('todos')?.get('b')).toMatchObject({ title: 'y', deletedAt: T2, updatedAt: T2 });
    expect(store.get('todos')?.has('nothing')).toBe(false);
  });
});

describe('the web-app model: SSE', () => {
  it('splits blocks on a blank line, last data line wins, a partial block waits', () => {
    const { events, rest } = parseSseBlocks(
      'event: heartbeat\ndata: {}\n\nevent: changes\ndata: 1\ndata: 2\n\nevent: cha',
    );
    expect(events).toEqual([
      { type: 'heartbeat', data: '{}' },
      { type: 'changes', data: '2' },
    ]);
    expect(rest).toBe('event: cha');
  });

  let server: Server;
  let url = '';
  const requests: Array<{ url: string; accept: string | undefined; clientId: string | undefined }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({
        url: req.url ?? '',
        accept: req.headers.accept,
        clientId: req.headers['x-client-id'] as string | undefined,
      });
      if (req.url?.startsWith('/sync/missing/')) {
        res.writeHead(404).end('{"error":{"code":"NOT_FOUND"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const block = JSON.stringify({
        table: 'todos',
        changes: [
          { table: 'todos', id: 'a', op: 'update', fields: { title: { value: 'streamed', updatedAt: T1 } } },
        ],
        syncedUntil: '2024-01-01T10:00:00.123456Z',
        hasMore: false,
      });
      // A block split across writes, and a heartbeat in between.
      res.write('event: heartbeat\ndata: {}\n\nevent: chan');
      setTimeout(() => res.write(`ges\ndata: ${block}\n\n`), 10);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = (appId: string) =>
    new WebAppClient({ url, appId, tables: ['todos', 'notes'], clientId: 'tab-1', token: async () => 'tok' });

  it('applies changes blocks as they arrive and sets that table’s cursor', async () => {
    const w = client('app');
    const stream = w.stream();
    try {
      expect(await stream.firstStatus).toBe(200);
      for (let i = 0; i < 100 && w.store.get('todos')?.get('a')?.title !== 'streamed'; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(w.store.get('todos')?.get('a')?.title).toBe('streamed');
      expect(w.cursor('todos')).toBe('2024-01-01T10:00:00.123456Z');
      expect(w.cursor('notes')).toBe('1970-01-01T00:00:00.000Z');
      expect(stream.others).toEqual(['heartbeat']);
      expect(requests[0]).toEqual({
        url: '/sync/app/stream?collections=todos,notes&since=1970-01-01T00%3A00%3A00.000Z',
        accept: 'text/event-stream',
        clientId: 'tab-1',
      });
    } finally {
      stream.close();
    }
  });

  it('falls back to polling on a non-200 answer', async () => {
    const stream = client('missing').stream();
    expect(await stream.firstStatus).toBe(404);
    for (let i = 0; i < 100 && !stream.fellBack; i++) await new Promise((r) => setTimeout(r, 5));
    expect(stream.fellBack).toBe(true);
  });
});
