import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Dexie } from 'dexie';
import { build } from 'esbuild';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { chromium } from 'playwright-core';
import { WebSocket } from 'ws';
import { syncStores, type WebSocketConstructor } from '../../packages/client/src/index.js';
import type { RunningServer } from '../../packages/server/src/server.js';
import { seedTodos, startClientBenchServer } from '../client/sync-server.js';
import { type BenchEnv, endToEnd, firstSync, loneWrites } from '../client/workload.js';
import { BENCH_DATABASE_URL, type BenchSchema, freshSchema } from '../lib/databases.js';
import { type BenchOptions, commandFor } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';

/**
 * The Dexie client end to end (docs/benchmarks.md, "Client"), in Node (fake-indexeddb) and in
 * Chromium (/usr/bin/chromium, playwright-core), each case next to a raw baseline of the same
 * path measured in the same run (bench/client/workload.ts). The server runs in this process on
 * PostgreSQL (BENCH_DATABASE_URL / TEST_DATABASE_URL) or else PGlite.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const APP = 'todo';

interface Sizes {
  e2e: Array<[n: number, k: number]>;
  lone: number;
  first: number;
}

const sizesFor = (quick: boolean): Sizes =>
  quick
    ? {
        e2e: [
          [1000, 100],
          [2000, 100],
          [1000, 10],
          [5000, 1000],
          [10_000, 1000],
        ],
        lone: 30,
        first: 10_000,
      }
    : {
        e2e: [
          [2000, 100],
          [10_000, 100],
          [5000, 10],
          [20_000, 1000],
          [100_000, 1000],
        ],
        lone: 200,
        first: 100_000,
      };

/**
 * `CLIENT_BENCH_CASES=20000x1000,100000x1000,lone,first`: only those figures (end-to-end cases
 * as NxK), for a before/after of the ones that matter without the whole group's hour.
 */
function selected(sizes: Sizes): Sizes {
  const only = process.env.CLIENT_BENCH_CASES?.split(',').map((c) => c.trim());
  if (!only) return sizes;
  return {
    e2e: sizes.e2e.filter(([n, k]) => only.includes(`${n}x${k}`)),
    lone: only.includes('lone') ? sizes.lone : 0,
    first: only.includes('first') ? sizes.first : 0,
  };
}

/** One environment's way of running a workload; `longTasks` only in Chromium. */
type Runner = (
  what: 'endToEnd' | 'loneWrites' | 'firstSync',
  args: unknown[],
) => Promise<{ ms?: number; p50?: number; longTasks?: number }>;

export async function clientGroup(opts: BenchOptions): Promise<Figure[]> {
  const sizes = selected(sizesFor(opts.quick));
  const command = commandFor(opts, 'client');
  let schema: BenchSchema | undefined;
  let statics: Server | undefined;
  let sync: RunningServer | undefined;
  const figures: Figure[] = [];
  try {
    statics = createServer((req, res) => {
      if (req.url === '/bench.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script src="/bench.js"></script>');
    });
    let bundle = '';
    await new Promise<void>((r) => statics!.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(statics.address() as AddressInfo).port}`;
    if (BENCH_DATABASE_URL)
      schema = await freshSchema(BENCH_DATABASE_URL, `client${randomBytes(2).toString('hex')}`);
    else console.warn('BENCH_DATABASE_URL / TEST_DATABASE_URL unset: the client group runs on PGlite');
    const server = await startClientBenchServer(schema, [origin]);
    sync = server;
    const url = `http://127.0.0.1:${server.port}`;
    const issuer = server.context.devIssuer!;
    const token = (user: string) => issuer.mint(user, 3600);
    const run = randomBytes(3).toString('hex');
    const seeded = `first-${run}`;
    await seedTodos(server, APP, seeded, sizes.first);

    const nodeEnv: BenchEnv = {
      url,
      appId: APP,
      token,
      newDb(name, withSync) {
        const db = new Dexie(name, { indexedDB: new IDBFactory(), IDBKeyRange });
        db.version(1).stores({ todos: 'id, done', ...(withSync ? syncStores : {}) });
        return db;
      },
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    };
    const inNode: Runner = async (what, args) => {
      const fn = { endToEnd, loneWrites, firstSync }[what] as (...a: unknown[]) => Promise<object>;
      return fn(nodeEnv, ...args);
    };
    // CLIENT_BENCH_ENV=node or chromium: one of the two (a before/after pair run in halves).
    const only = process.env.CLIENT_BENCH_ENV;
    if (only !== 'chromium')
      figures.push(...(await measure('Node', inNode, sizes, opts, command, run, seeded)));
    if (only === 'node') return figures;
    if (chromiumMissing()) {
      console.warn(`no Chromium at ${CHROMIUM} (CHROMIUM_PATH): the client group's Chromium figures skipped`);
      return figures;
    }
    bundle = await bundlePage();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await (await browser.newContext()).newPage();
      page.on('pageerror', (err) => console.error('[bench page]', err));
      await page.exposeFunction('benchToken', token);
      await page.goto(`${origin}/`);
      const inChromium: Runner = (what, args) =>
        page.evaluate(
          ([u, w, a]) =>
            (globalThis as unknown as { benchRun(...x: unknown[]): Promise<object> }).benchRun(u, w, a),
          [url, what, args] as const,
        );
      figures.push(...(await measure('Chromium', inChromium, sizes, opts, command, run, seeded)));
    } finally {
      await browser.close();
    }
    return figures;
  } finally {
    await sync?.close(2000);
    statics?.closeAllConnections();
    statics?.close();
    await schema?.drop().catch((err) => console.error(`could not drop ${schema?.schema}:`, err));
  }
}

async function measure(
  where: string,
  runIn: Runner,
  sizes: Sizes,
  opts: BenchOptions,
  command: string,
  run: string,
  seeded: string,
): Promise<Figure[]> {
  const env = where.toLowerCase();
  const e2e = sizes.e2e.map((): Round[] => []);
  const lone: Round[] = [];
  const first: Round[] = [];
  const tasks: Round[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    for (const [i, [n, k]] of sizes.e2e.entries()) {
      const user = (m: string) => `e2e-${run}-${env}-${r}-${n}-${k}-${m}`;
      const base = (await runIn('endToEnd', ['raw', user('raw'), n, k])).ms! / 1000;
      const value = (await runIn('endToEnd', ['client', user('client'), n, k])).ms! / 1000;
      e2e[i]!.push({ value, baseline: base, ratio: ratioOf(value, base, 'lower') });
    }
    if (sizes.lone > 0) {
      const lu = (m: string) => `lone-${run}-${env}-${r}-${m}`;
      const lb = (await runIn('loneWrites', ['raw', lu('raw'), sizes.lone])).p50!;
      const lv = (await runIn('loneWrites', ['client', lu('client'), sizes.lone])).p50!;
      lone.push({ value: lv, baseline: lb, ratio: ratioOf(lv, lb, 'lower') });
    }
    if (sizes.first === 0) continue;
    const fb = await runIn('firstSync', ['raw', seeded, sizes.first]);
    const fv = await runIn('firstSync', ['client', seeded, sizes.first]);
    first.push({ value: fv.ms! / 1000, baseline: fb.ms! / 1000, ratio: ratioOf(fv.ms!, fb.ms!, 'lower') });
    if (fv.longTasks !== undefined) {
      // Counts may be 0: the ratio is (baseline+1)/(value+1), and the target is on the counts.
      tasks.push({
        value: fv.longTasks,
        baseline: fb.longTasks!,
        ratio: (fb.longTasks! + 1) / (fv.longTasks + 1),
      });
    }
  }
  const e2eLabel = 'raw push per transaction, then raw pages + bare bulkPut';
  const figures = sizes.e2e.map(([n, k], i) =>
    summarize(
      {
        id: `client.${env}.e2e.${n}x${k}`,
        figure: `${where}: end to end, N=${n.toLocaleString('en-US')} K=${k}`,
        unit: 's',
        baselineLabel: e2eLabel,
        target: 'ratio >= 0.5',
        command,
      },
      e2e[i]!,
      (f) => f.ratio >= 0.5,
    ),
  );
  if (lone.length > 0)
    figures.push(
      summarize(
        {
          id: `client.${env}.lone`,
          figure: `${where}: lone write on the other device, p50 of ${sizes.lone}`,
          unit: 'ms',
          baselineLabel: 'raw push, WebSocket notification, raw pull, put',
          target: 'ratio >= 0.5',
          command,
        },
        lone,
        (f) => f.ratio >= 0.5,
      ),
    );
  if (first.length > 0)
    figures.push(
      summarize(
        {
          id: `client.${env}.first`,
          figure: `${where}: first sync, ${sizes.first.toLocaleString('en-US')} records`,
          unit: 's',
          baselineLabel: 'raw pages + bare bulkPut',
          target: 'ratio >= 0.67',
          command,
        },
        first,
        (f) => f.ratio >= 1 / 1.5,
      ),
    );
  if (tasks.length > 0)
    figures.push(
      summarize(
        {
          id: `client.${env}.first.longtasks`,
          figure: `${where}: first sync, main-thread tasks over 50 ms`,
          unit: 'tasks',
          baselineLabel: 'raw pages + bare bulkPut',
          target: 'value <= baseline',
          command,
        },
        tasks,
        (f) => f.value <= f.baseline,
      ),
    );
  return figures;
}

function chromiumMissing(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return false;
  } catch {
    return true;
  }
}

/** The workloads and the client, from their sources, as one script for the page. */
async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [new URL('../client/page-entry.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    conditions: ['source'],
    write: false,
    logLevel: 'warning',
  });
  return out.outputFiles[0]!.text;
}
