import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type SeedScript, seedAsUser, seedScript } from '../lib/abuse-seed.js';
import { alternate } from '../lib/alternate.js';
import { type BenchSchema, roleSchema } from '../lib/databases.js';
import { runJob } from '../lib/fork-job.js';
import type { AbusePart, BenchOptions } from '../lib/options.js';
import { type CpuReading, cpuShare, readCpu } from '../lib/proc-cpu.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import { type ServerProcess, startServerProcess } from '../lib/server-process.js';
import { median, round } from '../lib/stats.js';
import type { AbuseJob, AbuseResult, HttpPushJob } from '../load/jobs.js';

const MB = 1024 * 1024;
/** Big records: 60 × 9.9 MB, over the 1 MiB record limit (seeded through SQL). */
const BIG = { tables: 1, perTable: 60, valueBytes: 9_900_000 };
/** The heavy user of (c): 200 tables × 1,000 small records. */
const WIDE = { tables: 200, perTable: 1000, valueBytes: 40 };

/**
 * What one user, or anyone without a token, can do to the server's memory and to everyone
 * else's latency (issue 20), on PostgreSQL with row-level security on (a role without
 * BYPASSRLS). One server process (startServerProcess), its VmRSS sampled every 50 ms from
 * /proc/<pid>/status; the load comes from forked load processes that poll /health every 20 ms.
 *
 *   big-pulls     4 clients pull 60 records of 9.9 MB, page after page, whole passes
 *   held-uploads  60 connections without a token each announce 10 MB and trickle it
 *   empty-pushes  a user's small pushes alone, and while another user with 200 tables sends
 *                 empty pushes on 8 connections: alternating slices of one load process
 *
 * Targets: peak RSS at most 300 MB over idle and /health p99 at most 100 ms under (a) and
 * (b); (c) the small pushes' p50 at most 2× their p50 alone, p99 reported. The same parts
 * then run on PGlite, seeded inside the server process (its database lives there), reported
 * without targets.
 */
export async function abuse(opts: BenchOptions, url: string | undefined, command: string): Promise<Figure[]> {
  const run = randomBytes(3).toString('hex');
  const users = { big: `abuse-${run}-big`, wide: `abuse-${run}-wide`, small: `abuse-${run}-small` };
  const seeds = { big: seedScript(users.big, 'bench', BIG), wide: seedScript(users.wide, 'bench', WIDE) };
  const figures: Figure[] = [];
  const parts = async (
    store: StoreUnderTest,
    start: (seed: SeedScript[]) => Promise<ServerProcess>,
  ): Promise<void> => {
    // A fresh server process for each part: "idle" is then a server that has served nothing
    // yet, not one whose heap still holds what an earlier part left.
    const serve = async <T>(seed: SeedScript[], fn: (server: ServerProcess) => Promise<T>): Promise<T> => {
      const server = await start(seed);
      try {
        return await fn(server);
      } finally {
        await server.stop().catch((err) => console.error('abuse: server stop:', err));
      }
    };
    const wants = (part: AbusePart) => opts.abuseParts.includes(part);
    if (wants('big-pulls'))
      figures.push(
        ...(await serve([seeds.big], (s) => memoryAndHealth(opts, s, store, 'big-pulls', command))),
      );
    if (wants('held-uploads'))
      figures.push(...(await serve([], (s) => memoryAndHealth(opts, s, store, 'held-uploads', command))));
    if (wants('empty-pushes'))
      figures.push(...(await serve([seeds.wide], (s) => emptyPushes(opts, s, store, users, command))));
  };
  const others = [users.wide, users.small];
  if (url && opts.abuseStores.includes('pg')) {
    let schema: BenchSchema | undefined;
    try {
      schema = await roleSchema(url, `abuse${run}`);
      const seeded = performance.now();
      if (opts.abuseParts.includes('big-pulls')) await seedAsUser(schema, seeds.big);
      if (opts.abuseParts.includes('empty-pushes')) await seedAsUser(schema, seeds.wide);
      process.stderr.write(`  abuse: seeded in ${Math.round((performance.now() - seeded) / 1000)} s\n`);
      const db = schema;
      await parts(PG, () => startServerProcess(db, users.big, 600_000, others, true));
    } finally {
      await schema?.drop().catch((err) => console.error(`could not drop ${schema?.schema}:`, err));
    }
  }
  // PGlite runs in the server's own process, seeded there (figures without targets).
  if (opts.abuseStores.includes('pglite'))
    await parts(PGLITE, (seed) =>
      startServerProcess({ pglite: true, seed }, users.big, 600_000, others, true),
    );
  return figures;
}

interface StoreUnderTest {
  label: string;
  prefix: string;
  /** PGlite's figures are reported without targets: its database is part of the server's RSS. */
  targets: boolean;
}
const PG: StoreUnderTest = { label: 'PostgreSQL', prefix: 'pg', targets: true };
const PGLITE: StoreUnderTest = { label: 'PGlite', prefix: 'pglite', targets: false };

/** VmRSS of a process, in MB. */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function memoryAndHealth(
  opts: BenchOptions,
  server: ServerProcess,
  store: StoreUnderTest,
  load: AbuseJob['load'],
  command: string,
): Promise<Figure[]> {
  const rss: Round[] = [];
  const health: Round[] = [];
  const what =
    load === 'big-pulls'
      ? '4 clients pulling 60 records of 9.9 MB'
      : '60 unauthenticated 10 MB uploads held open';
  const rounds = load === 'big-pulls' ? 1 : opts.rounds;
  for (let r = 0; r < rounds; r++) {
    const samples = { idle: [] as number[], loaded: [] as number[] };
    let phase: 'idle' | 'loaded' | 'after' = 'idle';
    const sampler = setInterval(() => {
      if (phase !== 'after') samples[phase].push(rssMb(server.pid));
    }, 50);
    let result: AbuseResult;
    try {
      result = await runJob<AbuseResult>(
        {
          kind: 'abuse',
          load,
          port: server.port,
          appId: 'bench',
          token: server.token,
          table: 't0',
          clients: 4,
          uploads: 60,
          contentLength: 10 * 1000 * 1000,
          idleMs: 2000,
          durationMs: opts.quick ? 3000 : 10_000,
          healthEveryMs: 20,
          maxMs: 300_000,
        },
        360_000,
        { onMark: (n) => (phase = n === 0 ? 'loaded' : 'after') },
      );
    } finally {
      clearInterval(sampler);
    }
    if (result.errors > 0)
      throw new Error(`abuse ${load}: ${result.errors} errors, first: ${result.firstError}`);
    const idle = median(samples.idle);
    const peak = Math.max(...samples.loaded);
    const notes = {
      idleRssMb: round(idle),
      peakRssMb: round(peak),
      rssSamples: samples.loaded.length,
      healthIdle: result.health.idle,
      healthLoaded: result.health.loaded,
      healthFailed: result.health.failed,
      ...(load === 'big-pulls'
        ? {
            pages: result.pages,
            mbPulled: Math.round(result.bytes / MB),
            passes: result.passes,
            refusals: result.refusals,
          }
        : { answers: result.refusals, mbSent: Math.round(result.bytesSent / MB) }),
    };
    rss.push({ value: peak - idle, baseline: idle, ratio: ratioOf(peak, idle, 'lower'), notes });
    health.push({
      value: result.health.loaded.p99,
      baseline: result.health.idle.p99,
      ratio: ratioOf(result.health.loaded.p99, result.health.idle.p99, 'lower'),
      notes: { loaded: result.health.loaded, idle: result.health.idle, failed: result.health.failed },
    });
  }
  return [
    summarize(
      {
        id: `${store.prefix}.abuse.${load}.rss`,
        figure: `${store.label} server peak RSS over idle, ${what}`,
        unit: 'MB',
        baselineLabel: 'idle RSS of the same process',
        ...(store.targets ? { target: 'value <= 300 MB' } : {}),
        command,
      },
      rss,
      store.targets ? (f) => f.value <= 300 : undefined,
    ),
    summarize(
      {
        id: `${store.prefix}.abuse.${load}.health`,
        figure: `${store.label} /health p99, ${what}`,
        unit: 'ms',
        baselineLabel: '/health p99 idle, just before',
        ...(store.targets ? { target: 'value <= 100 ms, no failed poll' } : {}),
        command,
      },
      health,
      store.targets
        ? (f) => f.value <= 100 && f.rounds.every((r) => (r.notes?.failed as number) === 0)
        : undefined,
    ),
  ];
}

async function emptyPushes(
  opts: BenchOptions,
  server: ServerProcess,
  store: StoreUnderTest,
  users: { wide: string; small: string },
  command: string,
): Promise<Figure[]> {
  const job = (side: string): HttpPushJob => ({
    kind: 'http-push',
    port: server.port,
    workers: 2,
    appId: 'bench',
    tokens: [server.tokens[users.small]!],
    batch: 1,
    trackCursor: true,
    runId: `abuse-${side}`,
    warmupMs: 0,
    durationMs: 0,
    maxRequests: 0,
  });
  // CPU of the server process and of its PostgreSQL backends, per slice (slice n's marks).
  const readings = new Map<number, CpuReading[]>();
  const { pairs } = await alternate(
    opts,
    job('alone'),
    { ...job('beside'), alongside: { token: server.tokens[users.wide]!, workers: 8 } },
    // 3 s slices: beside the empty pushes a small push takes ~100 ms here, and each side needs
    // at least 500 samples over the 12 pairs of a 3-round run.
    {
      sliceMs: opts.quick ? 1000 : 3000,
      onMark: (n) => readings.set(n, [...(readings.get(n) ?? []), readCpu(server.pid)]),
    },
  );
  const cpuOf = (slice: number) => {
    const [from, to] = readings.get(slice) ?? [];
    return from && to ? cpuShare(from, to) : undefined;
  };
  const samples = { alone: 0, beside: 0 };
  const p50: Round[] = [];
  const p99: Round[] = [];
  for (const { a: alone, b: beside, aSlice, bSlice } of pairs) {
    for (const s of [alone, beside])
      if (s.errors > 0) throw new Error(`abuse small pushes: ${s.errors} errors, first: ${s.firstError}`);
    samples.alone += alone.requests;
    samples.beside += beside.requests;
    const notes = {
      samplesAlone: alone.requests,
      samplesBeside: beside.requests,
      emptyPushes: beside.alongside,
      // Cores used in each slice: the server process (its event loop) and its backends.
      cpuAlone: cpuOf(aSlice),
      cpuBeside: cpuOf(bSlice),
    };
    p50.push({
      value: beside.latency.p50,
      baseline: alone.latency.p50,
      ratio: ratioOf(beside.latency.p50, alone.latency.p50, 'lower'),
      notes,
    });
    p99.push({
      value: beside.latency.p99,
      baseline: alone.latency.p99,
      ratio: ratioOf(beside.latency.p99, alone.latency.p99, 'lower'),
      notes,
    });
  }
  const enough = samples.alone >= 500 && samples.beside >= 500;
  const base = {
    baselineLabel: 'the same pushes alone, alternating slices',
    command,
    notes: { samples },
  };
  return [
    summarize(
      {
        ...base,
        id: `${store.prefix}.abuse.empty-pushes.p50`,
        figure: `${store.label} small push p50 beside another user's empty pushes (200 tables, 8 conns)`,
        unit: 'ms',
        ...(store.targets ? { target: 'ratio >= 0.5 (p50 at most 2x alone), >= 500 samples each' } : {}),
      },
      p50,
      store.targets ? (f) => enough && f.ratio >= 0.5 : undefined,
    ),
    summarize(
      {
        ...base,
        id: `${store.prefix}.abuse.empty-pushes.p99`,
        figure: `${store.label} small push p99 beside another user's empty pushes (200 tables, 8 conns)`,
        unit: 'ms',
      },
      p99,
    ),
  ];
}
