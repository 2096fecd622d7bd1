// Each device gets its own factory. The client needs no global indexedDB (see
// no-global-indexeddb.test.ts); it stays here so the suites run as they always have.
import 'fake-indexeddb/auto';
import { Dexie, type EntityTable } from 'dexie';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { memoryPglite } from '../../../server/test/helpers/databases.js';
import { startTestServer, type TestServer } from '../../../server/test/helpers/test-server.js';
import { createSyncClient, type SyncClient, type SyncClientOptions, syncStores } from '../../src/index.js';

export { eventually, waitForStatus } from './wait.js';

export interface Todo {
  id: string;
  title: string;
  done: boolean;
  note?: string | null;
}

export type TodoDb = Dexie & { todos: EntityTable<Todo, 'id'> };

/**
 * A "device": its own IndexedDB (a fresh fake-indexeddb factory). Opening the database twice
 * on one device is a page reload, or a second tab.
 */
export interface Device {
  indexedDB: IDBFactory;
  open(opts?: { withSync?: boolean }): TodoDb;
}

export function newDevice(): Device {
  const indexedDB = new IDBFactory();
  return {
    indexedDB,
    open({ withSync = true } = {}) {
      const db = new Dexie('mana', { indexedDB, IDBKeyRange }) as TodoDb;
      db.version(1).stores({ todos: 'id, done' });
      if (withSync) db.version(2).stores({ ...syncStores });
      return db;
    },
  };
}

export function attach(
  db: Dexie,
  server: { url: string; token(user: string): Promise<string> },
  user: string,
  opts: Partial<SyncClientOptions> = {},
): SyncClient {
  return createSyncClient(db, {
    url: server.url,
    appId: 'todo',
    tables: ['todos'],
    getToken: () => server.token(user),
    WebSocket: null,
    multiTab: 'off',
    pushDebounceMs: 20,
    ...opts,
  });
}

export async function startServer(): Promise<TestServer> {
  return startTestServer(await memoryPglite());
}
