import { createSyncClient, type SyncClient, syncStores } from '@mana/sync-client';
import { Dexie, type EntityTable } from 'dexie';

export interface Todo {
  id: string;
  title: string;
  done: boolean;
  createdAt: string;
}

export type TodoDb = Dexie & { todos: EntityTable<Todo, 'id'> };

const params = new URLSearchParams(location.search);
/** The mana-sync server; the dev server's default port unless ?server= says otherwise. */
export const serverUrl = params.get('server') ?? 'http://localhost:3050';
/** Dev auth: the user to mint tokens for (POST /dev/token). A real app asks Mana auth. */
export const user = params.get('user') ?? 'dev-user';

export const db = new Dexie(params.get('db') ?? 'mana') as TodoDb;
db.version(1).stores({ todos: 'id, createdAt', ...syncStores });

async function devToken(): Promise<string> {
  const res = await fetch(`${serverUrl}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, ttl: 3600 }),
  });
  if (!res.ok) throw new Error(`dev token: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

export const sync: SyncClient = createSyncClient(db, {
  url: serverUrl,
  appId: 'todo',
  tables: ['todos'],
  getToken: devToken,
  // ?debounce=ms: a push debounce (the client's default is none: a write is pushed at once).
  ...(params.has('debounce') ? { pushDebounceMs: Number(params.get('debounce')) } : {}),
});
