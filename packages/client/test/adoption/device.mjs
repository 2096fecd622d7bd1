// One device of an app that installed @mana/sync-client from its packed tarball, in plain
// Node: the app's own Dexie, fake-indexeddb as IndexedDB, ws as WebSocket, everything
// imported by package name as an app does. The adoption test copies this file into the
// scratch app and drives it over stdin/stdout: one JSON line per command, answered by one
// line starting with RPC. Arguments and results travel v8-serialized (base64), so a Date, a
// Map, bytes or a BigInt keep their type on the way. A new check is a new command here, or
// a new sequence of the existing ones in the test.
import 'fake-indexeddb/auto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { deserialize, serialize } from 'node:v8';
import { createSyncClient, syncStores } from '@mana/sync-client';
import { Dexie } from 'dexie';
import { WebSocket } from 'ws';

const { SYNC_URL, SYNC_USER } = process.env;
const RPC = 'RPC ';

let db;
let sync;
let tokenTtl = 3600;
const events = [];
const tokenCalls = [];

/** The app's database; `withSync` is the version that adds the client's tables. */
function openDb(withSync) {
  const d = new Dexie('notes');
  d.version(1).stores({ notes: 'id, title' });
  if (withSync) d.version(2).stores({ ...syncStores });
  return d;
}

/** The app's token source: the server's dev issuer, with the lifetime the test chose. */
async function getToken({ forceRefresh } = {}) {
  tokenCalls.push({ at: Date.now(), forceRefresh: !!forceRefresh });
  const res = await fetch(`${SYNC_URL}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: SYNC_USER, ttl: tokenTtl }),
  });
  return (await res.json()).token;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const commands = {
  /** The app before it adopted sync: records written with Dexie alone. */
  async seed(records) {
    const d = openDb(false);
    await d.table('notes').bulkPut(records);
    d.close();
  },
  /** The app adopts sync: the new schema version and the client, as the README shows. */
  attach({ options = {}, listen = ['status', 'conflict'], tokenTtlSeconds = 3600, realtime = true } = {}) {
    tokenTtl = tokenTtlSeconds;
    db = openDb(true);
    sync = createSyncClient(db, {
      url: SYNC_URL,
      appId: 'notes',
      tables: ['notes'],
      getToken,
      WebSocket: realtime ? WebSocket : null,
      multiTab: 'off',
      pushDebounceMs: 20,
      ...options,
    });
    for (const name of listen) sync.on(name, (value) => events.push({ event: name, value }));
  },
  start: () => sync.start(),
  sync: () => sync.sync(),
  stop: (opts) => sync.stop(opts),
  status: () => sync.status,
  pendingChanges: () => sync.pendingChanges(),
  put: (records) => db.table('notes').bulkPut(records),
  update: ({ id, changes }) => db.table('notes').update(id, changes),
  /** Sign-out right after a write, in one go (no round trip to the test in between). */
  async putThenStop({ records, stop }) {
    await db.table('notes').bulkPut(records);
    return sync.stop(stop);
  },
  all: () => db.table('notes').orderBy('id').toArray(),
  /** Waits until the table holds `count` records and nothing is pending. */
  async waitFor({ count, timeoutMs = 20_000 }) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [n, s] = [await db.table('notes').count(), sync.status];
      if (n === count && s.pending === 0 && s.state === 'synced') return n;
      if (Date.now() > deadline)
        throw new Error(`waitFor ${count}: ${n} records, status ${JSON.stringify(s)}`);
      await sleep(25);
    }
  },
  /** Waits until the client's WebSocket is open and authenticated. */
  async waitRealtime({ timeoutMs = 20_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    while (!sync.status.realtime) {
      if (Date.now() > deadline) throw new Error(`no realtime: ${JSON.stringify(sync.status)}`);
      await sleep(25);
    }
  },
  sleep: (ms) => sleep(ms),
  /** Events seen since the last call (the `listen` names given to attach). */
  events: () => events.splice(0),
  tokenCalls: () => tokenCalls,
  /** Which Dexie the app loads, and which one the client resolves from its own package. */
  dexie() {
    const clientEntry = import.meta.resolve('@mana/sync-client');
    return {
      semVer: Dexie.semVer,
      fromApp: createRequire(import.meta.url).resolve('dexie'),
      fromClient: createRequire(clientEntry).resolve('dexie'),
      clientEntry,
    };
  },
};

function answer(id, body) {
  process.stdout.write(`${RPC}${JSON.stringify({ id, ...body })}\n`);
}

const lines = createInterface({ input: process.stdin });
// One command at a time, in order, as the test sends them.
let queue = Promise.resolve();
lines.on('line', (line) => {
  const { id, cmd, arg } = JSON.parse(line);
  queue = queue.then(async () => {
    try {
      const fn = commands[cmd];
      if (!fn) throw new Error(`unknown command ${cmd}`);
      const value = await fn(arg === undefined ? undefined : deserialize(Buffer.from(arg, 'base64')));
      answer(id, { ok: true, value: value === undefined ? undefined : serialize(value).toString('base64') });
    } catch (err) {
      answer(id, { ok: false, error: `${err?.name}: ${err?.message}` });
    }
  });
});
lines.on('close', () => queue.then(() => process.exit(0)));
