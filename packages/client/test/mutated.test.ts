import { Dexie, type ObservabilitySet } from 'dexie';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { mayHoldKeys } from '../src/mutated.js';
import { STATE_TABLE, syncStores } from '../src/schema.js';

/**
 * The leader rereads the shared status rows only after writes that may hold them: its own
 * cursor and acknowledged-write entries (every page) do not; a status or sync-request write,
 * a large bulk write (Dexie reports it as the full range) and a clear() do.
 */
describe('state writes that may hold the shared rows', () => {
  it('tells cursor writes from status, sync-request, bulk and clear writes', async () => {
    const db = new Dexie(`mutated-${Math.random()}`, { indexedDB: new IDBFactory(), IDBKeyRange });
    db.version(1).stores({ ...syncStores });
    await db.open();
    const seen: ObservabilitySet[] = [];
    const listen = (parts: ObservabilitySet) => seen.push(parts);
    Dexie.on('storagemutated', listen);
    const state = db.table(STATE_TABLE);
    const prefix = `idb://${db.name}/${STATE_TABLE}/`;
    const shared = ['status', 'syncRequest'];
    const after = async (write: () => Promise<unknown>) => {
      seen.length = 0;
      await write();
      await new Promise((r) => setTimeout(r, 0));
      expect(seen.length).toBeGreaterThan(0);
      return seen.some((parts) => mayHoldKeys(parts, prefix, shared));
    };
    try {
      expect(await after(() => state.put({ key: 'cursor:u:todos', value: 'x' }))).toBe(false);
      expect(
        await after(() =>
          state.bulkPut([
            { key: 'ack:a', value: {} },
            { key: 'ack:b', value: {} },
          ]),
        ),
      ).toBe(false);
      expect(await after(() => state.put({ key: 'status', value: {} }))).toBe(true);
      expect(await after(() => state.put({ key: 'syncRequest', value: 1 }))).toBe(true);
      const many = Array.from({ length: 60 }, (_, i) => ({ key: `ack:${i}`, value: {} }));
      expect(await after(() => state.bulkPut(many))).toBe(true);
      expect(await after(() => state.clear())).toBe(true);
    } finally {
      Dexie.on('storagemutated').unsubscribe(listen);
      db.close();
    }
  });
});
