import { type DBCore, Dexie, type Middleware } from 'dexie';
import {
  createSyncClient,
  type SyncClient,
  syncStores,
  type WebSocketConstructor,
} from '../../packages/client/src/index.js';

/**
 * The client group's workloads, each with its raw baseline. No Node API here: the same module
 * runs in Node (fake-indexeddb) and, bundled by esbuild, in a Chromium page (browser.ts).
 *
 * A "device" is one Dexie database; the reader's arrivals are counted by a DBCore middleware
 * when the transaction that wrote them commits, the same way for the client and its baseline.
 */
export interface BenchEnv {
  url: string;
  appId: string;
  token(user: string): Promise<string>;
  /** A fresh, unopened database with the todos table (and the sync stores when asked). */
  newDb(name: string, withSync: boolean): Dexie;
  WebSocket: WebSocketConstructor;
}

interface Todo {
  id: string;
  title: string;
  done: boolean;
  note: string;
}

const PAGE = 1000;

export const todo = (prefix: string, g: number): Todo => ({
  id: `${prefix}-${String(g).padStart(7, '0')}`,
  title: `Todo number ${g}`,
  done: g % 2 === 0,
  note: 'n'.repeat(80),
});

/** Ids of committed writes to `todos`, and a way to wait until a condition on them holds. */
interface Arrivals {
  seen: Set<string>;
  until(done: () => boolean): Promise<void>;
}

function watchArrivals(db: Dexie): Arrivals {
  const seen = new Set<string>();
  let waiter: { done: () => boolean; resolve: () => void } | null = null;
  const check = () => {
    if (waiter?.done()) {
      const w = waiter;
      waiter = null;
      w.resolve();
    }
  };
  const mw: Middleware<DBCore> = {
    stack: 'dbcore',
    name: 'BenchArrivals',
    create(down) {
      return {
        ...down,
        table(name) {
          const table = down.table(name);
          if (name !== 'todos') return table;
          return {
            ...table,
            mutate: (req) =>
              table.mutate(req).then((res) => {
                if (req.type === 'put' || req.type === 'add') {
                  const ids = req.values.map((v) => (v as Todo).id);
                  (req.trans as unknown as EventTarget).addEventListener('complete', () => {
                    for (const id of ids) seen.add(id);
                    check();
                  });
                }
                return res;
              }),
          };
        },
      };
    },
  };
  db.use(mw);
  return {
    seen,
    until: (done) =>
      new Promise<void>((resolve) => {
        waiter = { done, resolve };
        check();
      }),
  };
}

function attach(env: BenchEnv, db: Dexie, user: string): SyncClient {
  // Default push and pull settings: the figures are what an app gets out of the box.
  return createSyncClient(db, {
    url: env.url,
    appId: env.appId,
    tables: ['todos'],
    getToken: () => env.token(user),
    WebSocket: env.WebSocket,
    multiTab: 'off',
  });
}

async function until(cond: () => boolean, ms = 10): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, ms));
}

/** Raw HTTP: one push of whole records, and one pull page. */
function raw(env: BenchEnv, user: string, clientId: string) {
  const base = `${env.url}/sync/${env.appId}`;
  const headers = async () => ({
    authorization: `Bearer ${await env.token(user)}`,
    'content-type': 'application/json',
    'x-client-id': clientId,
  });
  let since: string | null = null;
  return {
    async push(records: Todo[]) {
      const at = new Date().toISOString();
      const changes = records.map(({ id, ...rest }) => ({
        table: 'todos',
        id,
        op: 'insert',
        fields: Object.fromEntries(Object.entries(rest).map(([f, value]) => [f, { value, updatedAt: at }])),
      }));
      const res = await fetch(base, {
        method: 'POST',
        headers: await headers(),
        body: JSON.stringify({ clientId, since, changes }),
      });
      if (!res.ok) throw new Error(`raw push: ${res.status} ${await res.text()}`);
      since = ((await res.json()) as { syncedUntil: string }).syncedUntil;
    },
    async pull(from: string): Promise<{ records: Todo[]; until: string; more: boolean }> {
      const q = new URLSearchParams({ collection: 'todos', since: from, limit: String(PAGE) });
      const res = await fetch(`${base}/pull?${q}`, { headers: await headers() });
      if (!res.ok) throw new Error(`raw pull: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as {
        serverChanges: Array<{ id: string; fields: Record<string, { value: unknown }> }>;
        syncedUntil: string;
        hasMore: boolean;
      };
      const records = body.serverChanges.map((c) => {
        const r: Record<string, unknown> = { id: c.id };
        for (const [f, v] of Object.entries(c.fields)) r[f] = v.value;
        return r as unknown as Todo;
      });
      return { records, until: body.syncedUntil, more: body.hasMore };
    },
  };
}

const EPOCH = '1970-01-01T00:00:00.000000Z';

/** Raw paged pulls, each page stored with one bare bulkPut. */
async function rawPullAll(env: BenchEnv, db: Dexie, user: string, from = EPOCH): Promise<string> {
  const http = raw(env, user, 'bench-reader');
  let since = from;
  for (;;) {
    const page = await http.pull(since);
    if (page.records.length > 0) await db.table('todos').bulkPut(page.records);
    since = page.until;
    if (!page.more) return since;
  }
}

let dbs = 0;
const dbName = (what: string) => `bench-${what}-${++dbs}-${Math.random().toString(36).slice(2, 8)}`;

async function writeChunks(
  db: Dexie,
  n: number,
  k: number,
  prefix: string,
  each?: (c: Todo[]) => Promise<void>,
) {
  for (let i = 0; i < n; i += k) {
    const chunk = Array.from({ length: Math.min(k, n - i) }, (_, j) => todo(prefix, i + j + 1));
    await db.transaction('rw', db.table('todos'), () => db.table('todos').bulkAdd(chunk));
    if (each) await each(chunk);
  }
}

/**
 * End to end: the writer bulkAdds N records in transactions of K; the clock stops when the
 * reader holds all N. Client: two synced devices, default settings. Baseline: each
 * transaction's records in one raw push as soon as written, one at a time; after the last is
 * acknowledged the reader pulls raw pages, one bare bulkPut each.
 */
export async function endToEnd(env: BenchEnv, mode: 'client' | 'raw', user: string, n: number, k: number) {
  const writer = env.newDb(dbName('w'), mode === 'client');
  const reader = env.newDb(dbName('r'), mode === 'client');
  const arrived = watchArrivals(reader);
  // The client attaches before the database opens (its capture must see the first write).
  const clients = mode === 'client' ? [writer, reader].map((db) => attach(env, db, user)) : [];
  await writer.open();
  await reader.open();
  try {
    for (const c of clients) await c.start();
    await until(() => clients.every((c) => c.status.state === 'synced' && c.status.realtime));
    const started = performance.now();
    if (mode === 'client') {
      await writeChunks(writer, n, k, user);
      await arrived.until(() => arrived.seen.size >= n);
    } else {
      const http = raw(env, user, 'bench-writer');
      await writeChunks(writer, n, k, user, (chunk) => http.push(chunk));
      await rawPullAll(env, reader, user);
      // Until the last page's transaction has committed, as for the client.
      await arrived.until(() => arrived.seen.size >= n);
    }
    return { ms: performance.now() - started };
  } finally {
    for (const c of clients) await c.stop({ flush: false });
    writer.close();
    reader.close();
  }
}

/**
 * A lone write, timed until the other device holds it; `count` writes one after another, one
 * at a time. Baseline: one raw push, the WebSocket notification, one raw pull, one put.
 */
export async function loneWrites(env: BenchEnv, mode: 'client' | 'raw', user: string, count: number) {
  const writer = env.newDb(dbName('lw'), mode === 'client');
  const reader = env.newDb(dbName('lr'), mode === 'client');
  const arrived = watchArrivals(reader);
  const clients = mode === 'client' ? [writer, reader].map((db) => attach(env, db, user)) : [];
  await writer.open();
  await reader.open();
  let ws: InstanceType<WebSocketConstructor> | null = null;
  const samples: number[] = [];
  try {
    if (mode === 'client') {
      for (const c of clients) await c.start();
      await until(() => clients.every((c) => c.status.state === 'synced' && c.status.realtime));
      for (let i = 1; i <= count; i++) {
        const rec = todo(user, i);
        const t0 = performance.now();
        await writer.table('todos').put(rec);
        await arrived.until(() => arrived.seen.has(rec.id));
        samples.push(performance.now() - t0);
        // Let the writer's answer land before the next write, as between a user's edits.
        await until(() => clients[0]!.status.pending === 0, 2);
      }
    } else {
      const push = raw(env, user, 'bench-lone-writer');
      const pull = raw(env, user, 'bench-lone-reader');
      let notified: (() => void) | null = null;
      const socket = new env.WebSocket(`${env.url.replace(/^http/, 'ws')}/ws`);
      ws = socket;
      const authed = new Promise<void>((resolve, reject) => {
        socket.onopen = async () =>
          socket.send(
            JSON.stringify({ type: 'auth', token: await env.token(user), clientId: 'bench-lone-reader' }),
          );
        socket.onerror = (e) => reject(new Error(`raw socket: ${String(e)}`));
        socket.onmessage = (ev) => {
          const msg = JSON.parse(String(ev.data)) as { type: string };
          if (msg.type === 'auth-ok') resolve();
          if (msg.type === 'sync-available') notified?.();
        };
      });
      await authed;
      let since = EPOCH;
      for (let i = 1; i <= count; i++) {
        const rec = todo(user, i);
        const t0 = performance.now();
        const note = new Promise<void>((r) => {
          notified = r;
        });
        await writer.table('todos').put(rec);
        await push.push([rec]);
        await note;
        const page = await pull.pull(since);
        since = page.until;
        for (const r of page.records) await reader.table('todos').put(r);
        await arrived.until(() => arrived.seen.has(rec.id));
        samples.push(performance.now() - t0);
      }
    }
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor((samples.length - 1) / 2)]!, samples: samples.length };
  } finally {
    ws?.close();
    for (const c of clients) await c.stop({ flush: false });
    writer.close();
    reader.close();
  }
}

/**
 * First sync of a user the server already holds N records for (seeded by the harness).
 * Client: start() and sync() on an empty device. Baseline: the same pages, bare bulkPut each.
 */
export async function firstSync(env: BenchEnv, mode: 'client' | 'raw', user: string, n: number) {
  const db = env.newDb(dbName('fs'), mode === 'client');
  const arrived = watchArrivals(db);
  const client = mode === 'client' ? attach(env, db, user) : null;
  await db.open();
  try {
    const started = performance.now();
    if (client) {
      await client.start();
      await arrived.until(() => arrived.seen.size >= n);
    } else {
      await rawPullAll(env, db, user);
      await arrived.until(() => arrived.seen.size >= n);
    }
    const ms = performance.now() - started;
    return { ms };
  } finally {
    await client?.stop({ flush: false });
    db.close();
  }
}

export { Dexie, syncStores };
