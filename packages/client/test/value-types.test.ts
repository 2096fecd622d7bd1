import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import type { ConflictEvent, UnsyncableRecordEvent } from '../src/index.js';
import { attach, newDevice, startServer, type TodoDb } from './helpers/harness.js';

/**
 * Every value Dexie stores syncs as itself (issue 19): a Date written on one device is a Date
 * on the other, at any depth, while the wire value stays plain JSON a JSON-only client reads.
 */

type Row = Record<string, unknown> & { id: string };
const rows = (db: TodoDb) => db.table<Row, string>('todos');

const when = new Date('2024-05-01T10:00:00.123Z');

/** A note as a Dexie app stores it: one of each kind of value, at the top and nested. */
const typedNote = (): Row => ({
  id: 'd1',
  title: 'typed',
  done: false,
  updated: when,
  bytes: new Uint8Array([0, 1, 254, 255]),
  buffer: new Uint16Array([1, 65535]).buffer,
  map: new Map<unknown, unknown>([
    ['a', 1],
    ['b', { deep: true, at: when }],
  ]),
  tags: new Set(['home', 'weekly']),
  big: 2n ** 70n,
  ratio: Number.NaN,
  limit: Number.POSITIVE_INFINITY,
  floor: Number.NEGATIVE_INFINITY,
  nothing: null,
  nested: {
    list: [when, 1n, undefined, null, new Int32Array([-1])],
    gone: undefined,
    plain: { t: 'Date', k: { x: 'Map' } },
  },
});

describe('value types between devices', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('a record held before sync with Date, bytes, Map, Set, BigInt, NaN and undefined arrives identical, and stays editable', async () => {
    // An app that used Dexie alone (issue 19, finding 1: this record used to be dropped).
    const device = newDevice();
    const plain = device.open({ withSync: false });
    await rows(plain).put(typedNote());
    plain.close();

    const a = device.open();
    const ca = attach(a, server, 'u-typed');
    const unsyncable: UnsyncableRecordEvent[] = [];
    ca.on('unsyncable', (e) => unsyncable.push(e));
    await ca.start();
    await ca.sync();
    expect(unsyncable).toEqual([]);
    expect(ca.status).toMatchObject({ state: 'synced', pending: 0 });

    const b = newDevice().open();
    const cb = attach(b, server, 'u-typed');
    await cb.start();
    await cb.sync();
    const got = await rows(b).get('d1');
    // Types and all: toStrictEqual tells a Date from its string, a Uint8Array from an Int8Array,
    // NaN from null, and an own `undefined` property from a missing one.
    const { nested, ...top } = typedNote();
    const { nested: gotNested, ...gotTop } = got!;
    expect(gotTop).toStrictEqual(top);
    expect(gotNested).toStrictEqual(nested);
    expect(Object.hasOwn(gotNested as object, 'gone')).toBe(true);

    // Finding 1, second half: the record is editable (it threw InvalidRecordError) and the edit
    // arrives, the Date still a Date.
    await a.todos.update('d1', { title: 'x' });
    await ca.sync();
    await cb.sync();
    expect(await rows(b).get('d1')).toMatchObject({ title: 'x', updated: when });
    expect((await rows(b).get('d1'))!.updated).toBeInstanceOf(Date);

    // Edits of typed values go back the other way, and an emptied field is removed, not null.
    await rows(b).update('d1', { updated: new Date(0), tags: new Set(['work']), big: undefined });
    await cb.sync();
    await ca.sync();
    const back = await rows(a).get('d1');
    expect(back).toMatchObject({ updated: new Date(0), tags: new Set(['work']) });
    expect(Object.hasOwn(back!, 'big')).toBe(false);
    expect(await ca.pendingChanges()).toEqual([]);
    expect(await cb.pendingChanges()).toEqual([]);
    await ca.stop();
    await cb.stop();
  });

  it('a Blob or File up to 256 KiB syncs with its contents and MIME type; a larger one is refused in the write', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const ca = attach(a, server, 'u-blob');
    const cb = attach(b, server, 'u-blob');
    await ca.start();
    await cb.start();
    const image = new Uint8Array(256 * 1024).map((_, i) => i % 251);
    await rows(a).put({
      id: 'p1',
      title: 'photo',
      image: new Blob([image], { type: 'image/png' }),
      attachments: [new File(['hello'], 'hello.txt', { type: 'text/plain' })],
    });
    await ca.sync();
    await cb.sync();
    const got = await rows(b).get('p1');
    const photo = got!.image as Blob;
    expect(photo).toBeInstanceOf(Blob);
    expect(photo.type).toBe('image/png');
    // Compared as one buffer: an element-wise deep equal of 256 Ki elements takes seconds.
    expect(Buffer.from(await photo.arrayBuffer()).equals(Buffer.from(image))).toBe(true);
    // Node's structuredClone (fake-indexeddb) stores a File as a Blob; browsers keep the File.
    const [file] = got!.attachments as Blob[];
    expect([file!.type, await file!.text()]).toEqual(['text/plain', 'hello']);

    // A put of the same contents again (a new Blob object, as every read gives) is no change.
    const stored = await rows(a).get('p1');
    await rows(a).put({ ...stored!, image: new Blob([image], { type: 'image/png' }) });
    expect(await ca.pendingChanges()).toEqual([]);

    const tooBig = new Blob([new Uint8Array(256 * 1024 + 1)]);
    await expect(rows(a).put({ id: 'p2', image: tooBig })).rejects.toThrow(
      /todos\/p2\.image: a binary value of 262145 bytes is larger than the 256 KiB/,
    );
    expect(await rows(a).get('p2')).toBeUndefined();
    expect(await ca.pendingChanges()).toEqual([]);
    await ca.stop();
    await cb.stop();
  });

  it('Blobs held before sync are adopted, and a held-back record fixed with a Blob is queued', async () => {
    const device = newDevice();
    const plain = device.open({ withSync: false });
    await rows(plain).bulkPut([
      { id: 'old-blob', scan: new Blob(['scanned'], { type: 'application/pdf' }) },
      { id: 'fix-me', scan: /not a file/ },
    ]);
    plain.close();
    const a = device.open();
    const ca = attach(a, server, 'u-blob-adopt');
    await ca.start();
    await ca.sync();
    expect((await ca.pendingChanges()).map((c) => [c.id, c.problem?.code])).toEqual([
      ['fix-me', 'UNSYNCABLE_RECORD'],
    ]);
    // Fixed while sync is stopped: the record is looked at again (held-back.ts) in a transaction.
    await ca.stop();
    const b = newDevice().open();
    const cb = attach(b, server, 'u-blob-adopt');
    await cb.start();
    await rows(a).update('fix-me', { scan: new Blob(['fixed'], { type: 'text/plain' }) });
    await ca.start();
    await ca.sync();
    expect(await ca.pendingChanges()).toEqual([]);
    await cb.sync();
    const scans = await Promise.all(
      ['old-blob', 'fix-me'].map(async (id) => {
        const scan = (await rows(b).get(id))?.scan as Blob;
        return [scan.type, await scan.text()];
      }),
    );
    expect(scans).toEqual([
      ['application/pdf', 'scanned'],
      ['text/plain', 'fixed'],
    ]);
    await ca.stop();
    await cb.stop();
  });

  it('values no encoding covers are refused in the app’s own write, naming the field', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-refuse');
    await client.start();
    class Point {
      x = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: Array<[Row, RegExp]> = [
      [{ id: 'f', run: () => 1 }, /todos\/f\.run: a function cannot sync/],
      [{ id: 'c', meta: { where: new Point() } }, /todos\/c\.meta\.where: a Point instance cannot sync/],
      [{ id: 'y', meta: cyclic }, /todos\/y\.meta\.self: a cyclic structure cannot sync/],
      [{ id: 's', list: [1, Symbol('s')] }, /todos\/s\.list\[1\]: a symbol cannot sync/],
    ];
    for (const [record, message] of cases) {
      const error = await rows(db)
        .put(record)
        .then(
          () => null,
          (e: Error) => e,
        );
      expect(error?.name, record.id).toBe('InvalidRecordError');
      expect(error?.message).toMatch(message);
      expect(await rows(db).get(record.id)).toBeUndefined();
    }
    expect(await client.pendingChanges()).toEqual([]);
    await client.stop();
  });

  it('a record held before sync with a value no encoding covers is held back and told, never dropped', async () => {
    const device = newDevice();
    const plain = device.open({ withSync: false });
    // What IndexedDB stores but sync cannot carry: a RegExp, bytes over the limit.
    await rows(plain).bulkPut([
      { id: 'ok', title: 'fine', at: when },
      { id: 're', title: 'pattern', match: { re: /x+/g } },
      { id: 'big', title: 'huge', raw: new Uint8Array(300 * 1024) },
    ]);
    plain.close();
    const db = device.open();
    const client = attach(db, server, 'u-held-typed');
    const told: UnsyncableRecordEvent[] = [];
    client.on('unsyncable', (e) => told.push(e));
    await client.start();
    await client.sync();
    expect(told.map((e) => [e.id, e.message])).toEqual([
      ['big', expect.stringMatching(/todos\/big\.raw: a binary value of 307200 bytes/)],
      ['re', expect.stringMatching(/todos\/re\.match\.re: a RegExp instance cannot sync/)],
    ]);
    expect(client.status).toMatchObject({ state: 'error', pending: 2 });
    expect((await client.stop()).unsynced.map((c) => [c.id, c.problem?.code])).toEqual([
      ['big', 'UNSYNCABLE_RECORD'],
      ['re', 'UNSYNCABLE_RECORD'],
    ]);
  });

  it('a JSON-only client (the web app) reads plain values: ISO strings, base64, entries, decimal strings', async () => {
    const db = newDevice().open();
    const client = attach(db, server, 'u-webapp-reader');
    await client.start();
    await rows(db).put(typedNote());
    await client.sync();
    await client.stop();
    const res = await fetch(`${server.url}/sync/todo/pull?collection=todos`, {
      headers: { authorization: `Bearer ${await server.token('u-webapp-reader')}`, 'x-client-id': 'web-tab' },
    });
    const body = JSON.parse(await res.text()) as {
      serverChanges: Array<{ fields: Record<string, { value: unknown; type?: unknown }> }>;
    };
    const f = body.serverChanges[0]!.fields;
    const values = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.value]));
    expect(values).toMatchObject({
      title: 'typed',
      updated: '2024-05-01T10:00:00.123Z',
      bytes: 'AAH+/w==',
      map: [
        ['a', 1],
        ['b', { deep: true, at: '2024-05-01T10:00:00.123Z' }],
      ],
      tags: ['home', 'weekly'],
      big: '1180591620717411303424',
      ratio: null,
      nothing: null,
      nested: {
        list: ['2024-05-01T10:00:00.123Z', '1', null, null, '/////w=='],
        gone: null,
        plain: { t: 'Date', k: { x: 'Map' } },
      },
    });
    // The type beside the value, only where the value is not plain JSON.
    expect(f.title!.type).toBeUndefined();
    expect(f.nothing!.type).toBeUndefined();
    expect(f.updated!.type).toBe('Date');
    expect(f.map!.type).toEqual({ t: 'Map', k: { 1: { k: { 1: { k: { at: 'Date' } } } } } });
    expect(f.nested!.type).toEqual({
      k: { list: { k: { 0: 'Date', 1: 'BigInt', 2: 'undefined', 4: 'Int32Array' } }, gone: 'undefined' },
    });

    // The web app writes the field back as the string it read: for us it is a string now.
    await fetch(`${server.url}/sync/todo`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await server.token('u-webapp-reader')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        clientId: 'web-tab',
        changes: [
          {
            table: 'todos',
            id: 'd1',
            op: 'update',
            fields: { updated: { value: '2024-06-01T00:00:00.000Z', updatedAt: new Date().toISOString() } },
          },
        ],
      }),
    });
    const other = newDevice().open();
    const co = attach(other, server, 'u-webapp-reader');
    await co.start();
    await co.sync();
    expect(await rows(other).get('d1')).toMatchObject({
      updated: '2024-06-01T00:00:00.000Z',
      big: 2n ** 70n,
    });
    await co.stop();
  });

  it('an edit that lost is told with the values as the app wrote them (Dates, not strings)', async () => {
    const a = newDevice().open();
    const b = newDevice().open();
    const manual = { pushDebounceMs: 3_600_000, pushMaxWaitMs: 3_600_000 };
    const ca = attach(a, server, 'u-typed-conflict', manual);
    const cb = attach(b, server, 'u-typed-conflict', manual);
    await ca.start();
    await cb.start();
    await rows(a).put({ id: 'k', due: new Date(1000) });
    await ca.sync();
    await cb.sync();
    // B writes first, A later; A syncs first: B's push loses.
    await rows(b).update('k', { due: new Date(2000) });
    await new Promise((r) => setTimeout(r, 5));
    await rows(a).update('k', { due: new Date(3000) });
    await ca.sync();
    const told: ConflictEvent[] = [];
    cb.on('conflict', (c) => told.push(c));
    await cb.sync();
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ field: 'due', localValue: new Date(2000), serverValue: new Date(3000) });
    expect(told[0]!.serverValue).toBeInstanceOf(Date);
    expect((await rows(b).get('k'))!.due).toStrictEqual(new Date(3000));
    await ca.stop();
    await cb.stop();
  });
});
