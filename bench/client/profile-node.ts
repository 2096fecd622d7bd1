import { Dexie } from 'dexie';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { WebSocket } from 'ws';
import { syncStores, type WebSocketConstructor } from '../../packages/client/src/index.js';
import { BENCH_DATABASE_URL, freshSchema } from '../lib/databases.js';
import { startClientBenchServer } from './sync-server.js';
import { type BenchEnv, endToEnd, firstSync, loneWrites } from './workload.js';

/**
 * One client workload in Node, for a CPU profile of the client alone (no baseline):
 *
 *   node --cpu-prof --conditions=source --import tsx bench/client/profile-node.ts e2e 10000 100
 *   node --cpu-prof --conditions=source --import tsx bench/client/profile-node.ts first 100000
 *   node --cpu-prof --conditions=source --import tsx bench/client/profile-node.ts lone 200
 */
const [what = 'e2e', nArg = '10000', kArg = '100'] = process.argv.slice(2);
const n = Number(nArg);
const schema = BENCH_DATABASE_URL ? await freshSchema(BENCH_DATABASE_URL, 'clientprof') : undefined;
const server = await startClientBenchServer(schema);
const env: BenchEnv = {
  url: `http://127.0.0.1:${server.port}`,
  appId: 'todo',
  token: (user) => server.context.devIssuer!.mint(user, 3600),
  newDb(name, withSync) {
    const db = new Dexie(name, { indexedDB: new IDBFactory(), IDBKeyRange });
    db.version(1).stores({ todos: 'id, done', ...(withSync ? syncStores : {}) });
    return db;
  },
  WebSocket: WebSocket as unknown as WebSocketConstructor,
};
try {
  const user = `prof-${Date.now()}`;
  if (what === 'first') {
    // Seeded by a raw writer: the same records a device would pull.
    await endToEnd(env, 'raw', user, n, 1000);
    console.log(what, n, await firstSync(env, 'client', user, n));
  } else if (what === 'lone') {
    console.log(what, n, await loneWrites(env, 'client', user, n));
  } else {
    console.log(what, n, kArg, await endToEnd(env, 'client', user, n, Number(kArg)));
  }
} finally {
  await server.close(1000);
  await schema?.drop();
}
process.exit(0);
