import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pinServerSide } from '../lib/cpu.js';
import { runJob } from '../lib/fork-job.js';
import { startEchoServer, startMana } from '../lib/servers.js';
import { smallPushJob } from '../lib/small-push.js';
import type { LoadResult } from '../load/jobs.js';

/**
 * CPU time per small push in the server process, for mana-sync without a database and for
 * the node:http JSON echo: the request path's cost with the machine's noise taken out
 * (throughput on 2 shared cores also depends on what the load process gets).
 *
 *   npx tsx --conditions=source bench/tools/request-cpu.ts [rounds=5] [--no-pin] [--profile out.cpuprofile]
 * With --profile, a V8 CPU profile of mana's rounds only (summarize it with profile-summary.ts).
 */
const args = process.argv.slice(2);
const profileAt = args.indexOf('--profile');
const profileFile = profileAt >= 0 ? args.splice(profileAt, 2)[1] : undefined;
const rounds = Number(args[0] ?? 5);
const pin = args.includes('--no-pin') ? undefined : pinServerSide();
console.log(pin ? `pinned: server side on cpu ${pin.serverCpu}, load on cpu ${pin.loadCpu}` : 'not pinned');

const mana = await startMana({ kind: 'no-database' });
const echo = await startEchoServer();
const session = new Session();
session.connect();
await session.post('Profiler.enable');
const job = (port: number, tokens: string[], r: number) =>
  smallPushJob(port, tokens, `cpu-${port}-${r}`, { warmupMs: 500, durationMs: 2000, maxRequests: 0 });
async function measure(port: number, tokens: string[], r: number, profile: boolean) {
  if (profile) await session.post('Profiler.start');
  const c0 = process.cpuUsage();
  const res = await runJob<LoadResult>(job(port, tokens, r), 60_000, pin ? { cpu: pin.loadCpu } : {});
  const c = process.cpuUsage(c0);
  if (profile) {
    const { profile: p } = await session.post('Profiler.stop');
    if (profileFile)
      writeFileSync(profileFile.replace(/(\.cpuprofile)?$/, `-${r}.cpuprofile`), JSON.stringify(p));
  }
  // cpuUsage covers warm-up too: divide by every request the load process finished.
  const all = res.total;
  return {
    rps: Math.round((res.requests * 1000) / res.elapsedMs),
    cpuUsPerReq: Math.round(((c.user + c.system) / all) * 10) / 10,
  };
}
try {
  const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => mana.token(`cpu-user-${i}`)));
  const rows: Array<
    Record<'round' | 'echoRps' | 'manaRps' | 'echoCpuUs' | 'manaCpuUs' | 'cpuRatio', number>
  > = [];
  await measure(mana.port, tokens, -1, false); // JIT warm-up, not reported
  for (let r = 0; r < rounds; r++) {
    const e = await measure(echo.port, tokens, r, false);
    const m = await measure(mana.port, tokens, r, profileFile !== undefined);
    rows.push({
      round: r,
      echoRps: e.rps,
      manaRps: m.rps,
      echoCpuUs: e.cpuUsPerReq,
      manaCpuUs: m.cpuUsPerReq,
      cpuRatio: Math.round((e.cpuUsPerReq / m.cpuUsPerReq) * 100) / 100,
    });
  }
  const median = (k: 'echoCpuUs' | 'manaCpuUs' | 'cpuRatio') =>
    rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
  const summary = {
    echoCpuUs: median('echoCpuUs'),
    manaCpuUs: median('manaCpuUs'),
    cpuRatio: median('cpuRatio'),
  };
  console.log(JSON.stringify({ rows, summary }));
  console.table(rows);
  console.table([summary]);
} finally {
  session.disconnect();
  await mana.close();
  await echo.close();
}
