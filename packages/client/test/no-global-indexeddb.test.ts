// No `fake-indexeddb/auto` and no harness import (it installs one): this file runs the client
// the way Node apps, Web Workers without a global and apps passing Dexie's options do.
import { Dexie, type EntityTable } from 'dexie';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryPglite } from '../../server/test/helpers/databases.js';
import { startTestServer, type TestServer } from '../../server/test/helpers/test-server.js';
import { createSyncClient, type SyncClientOptions, syncStores } from '../src/index.js';
import { eventually, waitForStatus } from './helpers/wait.js';

interface Note {
  id: string;
  title: string;
}
type NoteDb = Dexie & { notes: EntityTable<Note, 'id'> };

function openDb(): NoteDb {
  const db = new Dexie('notes', { indexedDB: new IDBFactory(), IDBKeyRange }) as NoteDb;
  db.version(1).stores({ notes: 'id', ...syncStores });
  return db;
}

describe('a Dexie opened with { indexedDB, IDBKeyRange } and no global indexedDB', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(await memoryPglite());
  });
  afterAll(async () => {
    await server.close();
  });

  const attach = (db: Dexie, user: string, opts: Partial<SyncClientOptions> = {}) =>
    createSyncClient(db, {
      url: server.url,
      appId: 'notes',
      tables: ['notes'],
      getToken: () => server.token(user),
      WebSocket: null,
      multiTab: 'off',
      // The fallback pull never comes: only the client's own change detection can push.
      pullIntervalMs: 3_600_000,
      ...opts,
    });

  const onServer = async (user: string) => {
    const res = await server.pull(user, 'notes', { collection: 'notes' });
    const body = (await res.json()) as { serverChanges: Array<{ id: string }> };
    return body.serverChanges.map((c) => c.id);
  };

  it('there is no global indexedDB here', () => {
    expect((globalThis as { indexedDB?: unknown }).indexedDB).toBeUndefined();
    expect(Dexie.dependencies.indexedDB).toBeFalsy();
  });

  it('pushes a write promptly, without sync() or the periodic pull', async () => {
    const db = openDb();
    const client = attach(db, 'u-noglobal-push', { pushDebounceMs: 50 });
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    await db.notes.put({ id: 'n1', title: 'written in Node' });
    await eventually(async () => expect(await onServer('u-noglobal-push')).toEqual(['n1']), 3000);
    await eventually(() => expect(client.status).toMatchObject({ state: 'synced', pending: 0 }), 3000);
    await client.stop();
  });

  it('counts a write in pending, and stop() pushes it', async () => {
    const db = openDb();
    const client = attach(db, 'u-noglobal-stop', { pushDebounceMs: 60_000, pushMaxWaitMs: 60_000 });
    await client.start();
    await waitForStatus(client, (s) => s.state === 'synced');
    await db.notes.bulkPut([
      { id: 'a', title: 'one' },
      { id: 'b', title: 'two' },
    ]);
    await eventually(() => expect(client.status.pending).toBe(2), 3000);
    const report = await client.stop();
    expect(report.unsynced).toEqual([]);
    expect((await onServer('u-noglobal-stop')).sort()).toEqual(['a', 'b']);
  });

  it('warns once that Node has no WebSocket, however many clients', async () => {
    vi.stubGlobal('WebSocket', undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      for (const user of ['u-ws-1', 'u-ws-2']) {
        const db = openDb();
        const client = attach(db, user, { WebSocket: undefined });
        await client.start();
        await client.stop();
      }
      const said = warn.mock.calls.filter((c) => String(c[0]).includes('WebSocket'));
      expect(said).toHaveLength(1);
      expect(String(said[0]![0])).toMatch(/'ws'/);
    } finally {
      warn.mockRestore();
      vi.unstubAllGlobals();
    }
  });
});
