import { Dexie } from 'dexie';
import type { WebSocketConstructor } from '../../packages/client/src/index.js';
import { syncStores } from '../../packages/client/src/index.js';
import { type BenchEnv, endToEnd, firstSync, loneWrites } from './workload.js';

/**
 * The workloads in a Chromium page (bundled by esbuild, browser.ts). Tokens come from the Node
 * side (`benchToken`, exposed by playwright); each database is deleted after its case.
 */
declare function benchToken(user: string): Promise<string>;

function env(url: string): BenchEnv & { made: string[] } {
  const made: string[] = [];
  return {
    url,
    appId: 'todo',
    made,
    token: (user) => benchToken(user),
    newDb(name, withSync) {
      made.push(name);
      const db = new Dexie(name);
      db.version(1).stores({ todos: 'id, done', ...(withSync ? syncStores : {}) });
      return db;
    },
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  };
}

/** Runs one case; `longTasks`: main-thread tasks over 50 ms while it ran. */
async function run(url: string, what: string, args: unknown[]) {
  const e = env(url);
  const tasks: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries()));
  observer.observe({ type: 'longtask', buffered: false });
  try {
    const fn = { endToEnd, loneWrites, firstSync }[what] as (...a: unknown[]) => Promise<object>;
    const out = await fn(e, ...args);
    // Entries are delivered asynchronously: let the last ones in.
    await new Promise((r) => setTimeout(r, 100));
    return { ...out, longTasks: tasks.length };
  } finally {
    observer.disconnect();
    for (const name of e.made) await Dexie.delete(name);
  }
}

(globalThis as unknown as { benchRun: typeof run }).benchRun = run;
