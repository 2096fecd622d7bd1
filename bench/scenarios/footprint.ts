import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshSchema } from '../lib/databases.js';
import type { BenchOptions } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';

/**
 * `npm run bench -- --only footprint`: cold start (spawn to the first 200 from /health) and
 * idle RSS (VmRSS 3 s after that) of the built server under plain node, as `npm start` and the
 * image run it, next to baselines started in the same round:
 *   - bare node: `http.createServer().listen()` (time to answering);
 *   - bare PGlite: PGlite.create() and nothing else (bench/lib/bare-pglite.mjs), with PGlite's
 *     default options and with the server's (PGLITE_OPTIONS), in memory (the baseline,
 *     which runs initdb) and on a data directory that exists (what the server's start does).
 * The server: PostgreSQL mode (needs BENCH_DATABASE_URL; its schema exists and is migrated),
 * embedded mode on a data directory that exists, and its first start on an empty one.
 * FOOTPRINT_BEFORE_BIN=<an older checkout's packages/server/bin/mana-sync.js> adds that bin's
 * figures (same baselines), for a before → after.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'packages/server/bin/mana-sync.js');
const BARE_PGLITE = join(ROOT, 'bench/lib/bare-pglite.mjs');
const BARE_NODE =
  "require('http').createServer((q,s)=>s.end('ok')).listen(Number(process.argv[1]),'127.0.0.1')";
const IDLE_MS = 3000;

interface Start {
  ms: number;
  rssMb: number;
}

export async function footprint(
  opts: BenchOptions,
  databaseUrl: string | undefined,
  command: string,
): Promise<Figure[]> {
  process.stderr.write('footprint: npm run build (the figures are of the built JavaScript)\n');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  const before = process.env.FOOTPRINT_BEFORE_BIN;
  if (before && !existsSync(before)) throw new Error(`FOOTPRINT_BEFORE_BIN: no file ${before}`);
  const work = mkdtempSync(join(tmpdir(), 'mana-footprint-'));
  const schema = databaseUrl ? await freshSchema(databaseUrl, 'footprint') : undefined;
  const pgEnv = schema ? { DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema } : undefined;
  // Data directories that exist, for the bare PGlite baselines: made once, before any round.
  const bareDir = join(work, 'bare');
  await measure([BARE_PGLITE], {}, ['server', bareDir]);

  const rounds: Record<string, Start[]> = {};
  const add = (key: string, s: Start) => {
    rounds[key] ??= [];
    rounds[key].push(s);
  };
  try {
    for (let r = 0; r < opts.rounds; r++) {
      add('node', await measure(['-e', BARE_NODE], {}, []));
      add('pglite.default.memory', await measure([BARE_PGLITE], {}, ['default']));
      add('pglite.server.memory', await measure([BARE_PGLITE], {}, ['server']));
      add('pglite.default.dir', await measure([BARE_PGLITE], {}, ['default', bareDir]));
      add('pglite.server.dir', await measure([BARE_PGLITE], {}, ['server', bareDir]));
      if (pgEnv) add('server.pg', await measure([BIN, 'serve', '--dev-auth'], pgEnv, []));
      const dataDir = join(work, `data-${r}`);
      add('server.first', await measure([BIN, 'serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: dataDir }, []));
      add(
        'server.embedded',
        await measure([BIN, 'serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: dataDir }, []),
      );
      if (before) {
        if (pgEnv) add('before.pg', await measure([before, 'serve', '--dev-auth'], pgEnv, []));
        const oldDir = join(work, `before-${r}`);
        add(
          'before.first',
          await measure([before, 'serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: oldDir }, []),
        );
        add(
          'before.embedded',
          await measure([before, 'serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: oldDir }, []),
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    await schema?.drop();
  }

  const figures: Figure[] = [];
  /** Two figures (start, RSS) of `key` against `base`, round by round. */
  const pair = (
    id: string,
    label: string,
    key: string,
    base: string,
    baseLabel: string,
    targets?: { ms: (b: number) => number; msText: string; rss: (b: number) => number; rssText: string },
  ) => {
    const a = rounds[key];
    const b = rounds[base];
    if (!a || !b) return;
    const of = (pick: (s: Start) => number): Round[] =>
      a.map((s, i) => ({
        value: pick(s),
        baseline: pick(b[i]!),
        ratio: ratioOf(pick(s), pick(b[i]!), 'lower'),
      }));
    figures.push(
      summarize(
        {
          id: `${id}.start`,
          figure: `${label}: time to /health`,
          unit: 'ms',
          baselineLabel: baseLabel,
          command,
          ...(targets ? { target: targets.msText } : {}),
        },
        of((s) => s.ms),
        targets ? (f) => f.value <= targets.ms(f.baseline) : undefined,
      ),
      summarize(
        {
          id: `${id}.rss`,
          figure: `${label}: idle RSS`,
          unit: 'MB',
          baselineLabel: baseLabel,
          command,
          ...(targets ? { target: targets.rssText } : {}),
        },
        of((s) => s.rssMb),
        targets ? (f) => f.value <= targets.rss(f.baseline) : undefined,
      ),
    );
  };
  const pgTargets = {
    ms: (b: number) => b + 400,
    msText: '≤ baseline + 400 ms',
    rss: (b: number) => 2.5 * b,
    rssText: '≤ 2.5 × baseline',
  };
  const embeddedTargets = {
    ms: (b: number) => b + 500,
    msText: '≤ baseline + 500 ms',
    rss: (b: number) => b + 100,
    rssText: '≤ baseline + 100 MB',
  };
  pair('footprint.node', 'bare node', 'node', 'node', 'bare node');
  pair(
    'footprint.pglite.memory',
    "bare PGlite.create() in memory, the server's options",
    'pglite.server.memory',
    'pglite.default.memory',
    "PGlite's defaults",
  );
  pair(
    'footprint.pglite.dir',
    "bare PGlite.create() on a data dir, the server's options",
    'pglite.server.dir',
    'pglite.default.dir',
    "PGlite's defaults",
  );
  pair('pg.footprint', 'server, PostgreSQL', 'server.pg', 'node', 'bare node', pgTargets);
  pair(
    'pglite.footprint',
    'server, embedded, data dir exists',
    'server.embedded',
    'pglite.server.memory',
    'bare PGlite in memory, same options',
    embeddedTargets,
  );
  pair(
    'pglite.footprint.dir',
    'server, embedded, data dir exists',
    'server.embedded',
    'pglite.server.dir',
    'bare PGlite on a data dir, same options',
  );
  pair(
    'pglite.footprint.first',
    'server, embedded, first start',
    'server.first',
    'pglite.server.memory',
    'bare PGlite in memory, same options',
  );
  pair('before.pg.footprint', 'before: server, PostgreSQL', 'before.pg', 'node', 'bare node', pgTargets);
  // The bin before this change ran PGlite with its default options: that is its baseline.
  pair(
    'before.pglite.footprint',
    'before: server, embedded, data dir exists',
    'before.embedded',
    'pglite.default.memory',
    "bare PGlite in memory, PGlite's defaults",
    embeddedTargets,
  );
  pair(
    'before.pglite.footprint.first',
    'before: server, embedded, first start',
    'before.first',
    'pglite.default.memory',
    "bare PGlite in memory, PGlite's defaults",
  );
  return figures;
}

/**
 * Spawns `node <args> <port> <extra>` (the port after the script, for the bare ones) or, for
 * the bin, with PORT in the environment; polls /health every 10 ms until a 200, then reads
 * VmRSS 3 s later, and stops the process.
 */
async function measure(args: string[], env: Record<string, string>, extra: string[]): Promise<Start> {
  const port = await freePort();
  const isBin = args[1] === 'serve';
  const argv = isBin ? args : [...args, String(port), ...extra];
  const started = performance.now();
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: {
      ...process.env,
      // Plain node: no conditions or loaders inherited from the bench's own tsx.
      NODE_OPTIONS: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const deadline = started + 60_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${argv.join(' ')} exited with ${child.exitCode}:\n${err}`);
      if (performance.now() > deadline) throw new Error(`${argv.join(' ')} did not answer in 60 s:\n${err}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
    return { ms: Math.round(ms), rssMb: Math.round(Number(kb) / 1024) };
  } finally {
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(kill);
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
