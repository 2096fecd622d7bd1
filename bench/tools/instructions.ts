import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJob } from '../lib/fork-job.js';
import { smallPushJob } from '../lib/small-push.js';
import type { LoadResult } from '../load/jobs.js';

/**
 * Instructions per small push on the server's main thread, for mana-sync without a database
 * and for the node:http echo: a count that the machine's noise does not move (about 0.5 %
 * between runs), where time per request moves by a third. The server runs under
 * `valgrind --tool=callgrind` with its instrumentation off through `warmup` requests (the JIT
 * settles), on for `measured` more; threads apart, so V8's compiler threads are left out.
 *
 *   npx tsx bench/tools/instructions.ts [measured=3000] [warmup=12000]
 * About a minute per server on this machine. Needs valgrind (Debian's package).
 */
const [measured = 3000, warmup = 12_000] = process.argv.slice(2).map(Number);
const SERVER = fileURLToPath(new URL('./instructions-server.ts', import.meta.url));

async function count(target: 'mana' | 'echo'): Promise<number> {
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
    const load = (n: number, label: string) =>
      runJob<LoadResult>(
        smallPushJob(port, tokens, `instr-${target}-${label}`, {
          warmupMs: 0,
          durationMs: 600_000,
          maxRequests: n,
        }),
        700_000,
      );
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
    return Number(totals[1]) / done.total;
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const mana = await count('mana');
const echo = await count('echo');
const result = {
  manaPerRequest: Math.round(mana),
  echoPerRequest: Math.round(echo),
  ratio: +(echo / mana).toFixed(3),
};
console.log(JSON.stringify(result));
console.table([result]);
