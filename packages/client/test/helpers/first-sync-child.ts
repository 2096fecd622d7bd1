/**
 * Runs in its own Node process (`node --expose-gc --conditions=source --import tsx`) so its heap holds nothing
 * but the client and its IndexedDB: one first sync of a user with many records, sampling the
 * heap (after a full GC) before every request, i.e. between pages.
 *
 * env: SYNC_URL, SYNC_TOKEN, EXPECT (record count). Prints one JSON line.
 */
import 'fake-indexeddb/auto';
import { Dexie } from 'dexie';
import { createSyncClient, syncStores } from '../../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const url = process.env.SYNC_URL!;
const token = process.env.SYNC_TOKEN!;
const expected = Number(process.env.EXPECT);

const sampling = process.env.SAMPLE !== '0';
const heap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

// The IndexedDB data itself lives on the heap here (fake-indexeddb); in a browser it is on
// disk. Calibrate what one stored record costs, with records shaped like the ones synced.
async function bytesPerStoredRecord(): Promise<number> {
  const probe = new Dexie('calibration');
  probe.version(1).stores({ todos: 'id, done' });
  await probe.open();
  const before = heap();
  for (let p = 0; p < 10; p++) {
    await probe.table('todos').bulkPut(
      Array.from({ length: 1000 }, (_, i) => {
        const g = p * 1000 + i + 1;
        return {
          id: `big-${String(g).padStart(7, '0')}`,
          title: `Todo number ${g}`,
          done: g % 2 === 0,
          note: 'n'.repeat(80),
        };
      }),
    );
  }
  const per = (heap() - before) / 10_000;
  probe.close();
  await Dexie.delete('calibration');
  return per;
}
const perRecord = await bytesPerStoredRecord();

const db = new Dexie('mana');
db.version(1).stores({ todos: 'id, done', ...syncStores });
const samples: Array<{ records: number; heap: number }> = [];
let requests = 0;
const client = createSyncClient(db, {
  url,
  appId: 'todo',
  tables: ['todos'],
  getToken: () => token,
  WebSocket: null,
  multiTab: 'off',
  pullIntervalMs: 3_600_000,
  fetch: async (input, init) => {
    // Every page up to ~12k records, then every 4th (counting 100k fake records is not free).
    requests++;
    if (sampling && (requests <= 13 || requests % 4 === 0))
      samples.push({ records: await db.table('todos').count(), heap: heap() });
    return fetch(input, init);
  },
});
await db.open();
const empty = heap();
const started = performance.now();
await client.start();
await client.sync();
const ms = performance.now() - started;
const count = await db.table('todos').count();
await client.stop();
// What the sync holds beyond the stored records, between pages.
const overhead = samples.map((s) => ({
  records: s.records,
  bytes: Math.round(s.heap - empty - perRecord * s.records),
}));
console.log(JSON.stringify({ expected, count, ms: Math.round(ms), perRecord, overhead }));
process.exit(0);
