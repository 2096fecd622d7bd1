import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { statCpuUs } from '../lib/cpu.js';
import { BENCH_DATABASE_URL, freshSchema } from '../lib/databases.js';
import { runJob } from '../lib/fork-job.js';
import { startMana } from '../lib/servers.js';
import type { Job, LoadResult } from '../load/jobs.js';

/**
 * Where the machine's CPU goes per change in the push-ingest figure, by process: the server
 * (this process, every thread), PostgreSQL (every backend), and the load process. Same jobs
 * as `npm run bench -- --only push` (8 workers, 8 users), the raw INSERT baseline and the
 * push alternating, on this machine only (it reads /proc).
 *
 *   npx tsx --conditions=source bench/tools/cpu-by-process.ts [batch=100] [rounds=3]
 *
 * A backend that exits (the baseline closes its connections) is counted up to its last
 * reading, taken every 250 ms (the readings cost this process a little CPU: about 1 µs a change); the load process is counted once it is reaped.
 */
const [batch = 100, rounds = 3] = process.argv.slice(2).map(Number);

/** Highest CPU reading of every PostgreSQL process seen while it runs. */
function postgresSampler() {
  const seen = new Map<string, number>();
  const read = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (stat.includes('(postgres)')) seen.set(pid, Math.max(seen.get(pid) ?? 0, statCpuUs(stat).own));
      } catch {} // exited between readdir and read
    }
  };
  read();
  const start = new Map(seen);
  const timer = setInterval(read, 250);
  return () => {
    clearInterval(timer);
    read();
    let sum = 0;
    for (const [pid, t] of seen) sum += t - (start.get(pid) ?? 0);
    return sum;
  };
}

/** CPU of this process and of its reaped children (the load process), in µs. */
function ownCpu() {
  const u = process.cpuUsage();
  return { server: u.user + u.system, load: statCpuUs(readFileSync('/proc/self/stat', 'utf8')).children };
}

interface Figures {
  changesPerS: number;
  serverUs: number;
  postgresUs: number;
  loadUs: number;
}

/** One job's figures per change, and (push jobs) each worker's last cursor. */
async function measured(job: Job): Promise<{ figures: Figures; cursors?: Array<string | undefined> }> {
  const stopPg = postgresSampler();
  const before = ownCpu();
  const res = await runJob<LoadResult>(job, 120_000);
  await new Promise((r) => setTimeout(r, 300)); // the load process exits and is reaped
  const after = ownCpu();
  const pg = stopPg();
  const changes = res.total * batch; // CPU covers the warm-up too
  const per = (us: number) => Math.round((us / changes) * 10) / 10;
  const figures = {
    changesPerS: Math.round((res.units * 1000) / res.elapsedMs),
    serverUs: per(after.server - before.server),
    postgresUs: per(pg),
    loadUs: per(after.load - before.load),
  };
  return { figures, ...(res.cursors ? { cursors: res.cursors } : {}) };
}

const totalUs = (x: Figures) => Math.round((x.serverUs + x.postgresUs + x.loadUs) * 10) / 10;

if (!BENCH_DATABASE_URL) throw new Error('set TEST_DATABASE_URL or BENCH_DATABASE_URL');
const serverSchema = await freshSchema(BENCH_DATABASE_URL, 'cpuproc');
const rawSchema = await freshSchema(BENCH_DATABASE_URL, 'cpuraw');
const mana = await startMana({ kind: 'postgres', url: serverSchema.url, schema: serverSchema.schema });
const run = randomBytes(3).toString('hex');
const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => mana.token(`proc-${run}-${i}`)));
const timing = { warmupMs: 1000, durationMs: 3000, maxRequests: 50_000 };
try {
  const rows: Array<Record<string, string | number>> = [];
  let cursors: Array<string | undefined> = []; // carried from round to round, as a client does
  for (let r = 0; r < rounds; r++) {
    const { figures: raw } = await measured({
      kind: 'pg-insert',
      url: rawSchema.url,
      schema: rawSchema.schema,
      workers: 8,
      batch,
      users: 8,
      runId: `${run}-${r}`,
      ...timing,
    });
    const { figures: push, cursors: last } = await measured({
      kind: 'http-push',
      port: mana.port,
      workers: 8,
      appId: 'bench',
      tokens,
      batch,
      trackCursor: true,
      cursors,
      runId: `${run}-${r}`,
      ...timing,
    });
    cursors = last ?? [];
    rows.push({ round: r, kind: 'raw INSERT', ...raw, totalUs: totalUs(raw) });
    rows.push({ round: r, kind: 'push', ...push, totalUs: totalUs(push) });
    rows.push({
      round: r,
      kind: 'ratio',
      changesPerS: Math.round((push.changesPerS / raw.changesPerS) * 1000) / 1000,
      totalUs: Math.round((totalUs(raw) / totalUs(push)) * 1000) / 1000,
    });
  }
  console.log(JSON.stringify({ batch, rows }));
  console.table(rows);
} finally {
  await mana.close();
  await serverSchema.drop();
  await rawSchema.drop();
}
