import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJob } from '../lib/fork-job.js';
import { smallPushJob } from '../lib/small-push.js';
import type { HttpPushJob, LoadResult } from '../load/jobs.js';

/**
 * Instructions on the server's main thread: a count that the machine's noise does not move
 * (about 0.5 % between runs), where time per request moves by a third. The server runs under
 * `valgrind --tool=callgrind` with its instrumentation off through `warmup` requests (the JIT
 * settles), on for `measured` more; threads apart, so V8's compiler threads are left out.
 *
 *   npx tsx --conditions=source bench/tools/instructions.ts [request] [measured=3000] [warmup=12000]
 *     per small push, mana-sync without a database against the node:http echo
 *   npx tsx --conditions=source bench/tools/instructions.ts push [measured=300] [warmup=600]
 *     per change of 100-change pushes (8 users, cursors tracked) on PostgreSQL
 *     (TEST_DATABASE_URL or BENCH_DATABASE_URL; the server's part, not the database's)
 *
 * About a minute per server on this machine. Needs valgrind (Debian's package). With
 * MANA_INSTR_KEEP=dir the dumps are kept there, with V8's map of its compiled code (perf.map),
 * for `npx tsx --conditions=source bench/tools/instructions-report.ts dir`.
 */
const args = process.argv.slice(2);
const mode = args[0] === 'push' || args[0] === 'request' ? args.shift()! : 'request';
const BATCH = mode === 'push' ? 100 : 1;
const [measured = mode === 'push' ? 300 : 3000, warmup = mode === 'push' ? 600 : 12_000] = args.map(Number);
const SERVER = fileURLToPath(new URL('./instructions-server.ts', import.meta.url));

async function count(target: 'mana' | 'echo' | 'push'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mana-instr-'));
  const info = join(dir, 'server.json');
  const server = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--separate-threads=yes',
      '--smc-check=all-non-file',
      `--callgrind-out-file=${join(dir, 'cg.%p')}`,
      process.execPath,
      // Kept dumps name V8's compiled JavaScript by this map (/tmp/perf-<pid>.map).
      ...(process.env.MANA_INSTR_KEEP ? ['--perf-basic-prof'] : []),
      '--conditions=source',
      '--import',
      'tsx',
      SERVER,
      target,
      info,
    ],
    { stdio: 'ignore' },
  );
  try {
    const deadline = Date.now() + 300_000;
    while (!existsSync(info) || readFileSync(info, 'utf8') === '') {
      if (Date.now() > deadline || server.exitCode !== null)
        throw new Error(`${target}: server did not start`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const { port, tokens } = JSON.parse(readFileSync(info, 'utf8')) as { port: number; tokens: string[] };
    const timing = (n: number) => ({ warmupMs: 0, durationMs: 600_000, maxRequests: n });
    let cursors: Array<string | undefined> = [];
    const load = async (n: number, label: string) => {
      const runId = `instr-${target}-${label}`;
      const job: HttpPushJob =
        target === 'push'
          ? { ...smallPushJob(port, tokens, runId, timing(n)), batch: BATCH, trackCursor: true, cursors }
          : smallPushJob(port, tokens, runId, timing(n));
      const result = await runJob<LoadResult>(job, 700_000);
      cursors = result.cursors ?? [];
      return result;
    };
    const control = (...args: string[]) =>
      execFileSync('callgrind_control', [...args, String(server.pid)], { stdio: 'ignore' });
    await load(warmup, 'warmup');
    control('-i', 'on');
    const done = await load(measured, 'measured');
    control('-i', 'off');
    control('-d');
    // The dump of the main thread (thread 1) of the first dump: cg.<pid>.1-01.
    const file = readdirSync(dir).find((f) => f.endsWith('.1-01'));
    if (!file) throw new Error(`${target}: no callgrind dump`);
    const totals = /^totals: (\d+)$/m.exec(readFileSync(join(dir, file), 'utf8'));
    if (!totals) throw new Error(`${target}: no totals in ${file}`);
    // closedLoop stops at `measured` finished requests; those in flight then finish too.
    return Number(totals[1]) / (done.total * BATCH);
  } finally {
    // SIGTERM first: the push server drops its schema on the way out.
    if (server.exitCode === null && server.kill('SIGTERM')) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise((r) => server.once('exit', r)),
        new Promise((r) => {
          timer = setTimeout(r, 10_000);
        }),
      ]);
      clearTimeout(timer);
    }
    server.kill('SIGKILL');
    if (process.env.MANA_INSTR_KEEP) {
      const map = `/tmp/perf-${server.pid}.map`;
      if (existsSync(map)) cpSync(map, join(dir, 'perf.map'));
      cpSync(dir, process.env.MANA_INSTR_KEEP, { recursive: true });
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (mode === 'push') {
  const result = { manaPerChange: Math.round(await count('push')) };
  console.log(JSON.stringify(result));
  console.table([result]);
} else {
  const mana = await count('mana');
  const echo = await count('echo');
  const result = {
    manaPerRequest: Math.round(mana),
    echoPerRequest: Math.round(echo),
    ratio: +(echo / mana).toFixed(3),
  };
  console.log(JSON.stringify(result));
  console.table([result]);
}
