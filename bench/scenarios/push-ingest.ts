import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { alternate } from '../lib/alternate.js';
import { busyShare, machineTicks } from '../lib/cpu.js';
import { runJob } from '../lib/fork-job.js';
import type { BenchOptions } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import type { HttpPushJob, LoadResult, PgInsertJob } from '../load/jobs.js';

/**
 * Push ingest on PostgreSQL: changes/s through `POST /sync/{appId}` against the raw insert
 * rate of the same rows (seed-shaped sync_changes rows, postgres.js multi-row INSERT) at the
 * same batch size and concurrency, in a separate schema of the same database.
 *
 *   many users: worker i pushes as user i (pushes run in parallel)
 *   heavy user: every worker pushes as one user (pushes serialize on the user's row lock)
 */
export interface PushIngestTarget {
  port: number;
  token(userId: string): Promise<string>;
  /**
   * The store's same-driver baseline, the raw insert of `batch` rows at the same concurrency:
   * a load job, run with the push in alternating slices (lib/alternate.ts), each pair of
   * slices a round; or, where it cannot run from another process (PGlite lives in this one),
   * a function run here before each round's push.
   */
  baseline:
    | { job(batch: number, users: number): PgInsertJob }
    | { inProcess(batch: number, users: number): Promise<LoadResult> };
  baselineLabel: string;
  label: string;
  idPrefix: string;
  command: string;
}

export async function pushIngest(opts: BenchOptions, t: PushIngestTarget): Promise<Figure[]> {
  const figures: Figure[] = [];
  const run = randomBytes(3).toString('hex');
  const manyTokens = await Promise.all(
    Array.from({ length: opts.workers }, (_, i) => t.token(`${t.idPrefix}-${run}-user-${i}`)),
  );
  const heavyToken = await t.token(`${t.idPrefix}-${run}-heavy`);
  const batches = t.idPrefix === 'pglite' ? opts.pgliteBatches : opts.batches;
  // The same users push in every round and batch size: each worker keeps its cursor from
  // one load process to the next, as a real client does (see HttpPushJob.cursors).
  const cursors = new Map<'many' | 'heavy', Array<string | undefined>>();
  for (const batch of batches) {
    for (const mode of ['many', 'heavy'] as const) {
      if (mode === 'heavy' && !opts.heavyBatches.includes(batch)) continue;
      const rounds: Round[] = [];
      const pushJob = (r: number | string): HttpPushJob => ({
        kind: 'http-push',
        port: t.port,
        workers: opts.workers,
        appId: 'bench',
        tokens: mode === 'many' ? manyTokens : [heavyToken],
        batch,
        trackCursor: true,
        cursors: cursors.get(mode),
        runId: `${run}-${mode}-${batch}-${r}`,
        warmupMs: opts.warmupMs,
        durationMs: opts.durationMs,
        maxRequests: opts.maxRequests,
      });
      const users = mode === 'many' ? opts.workers : 1;
      const source = t.baseline;
      if ('job' in source) {
        const { pairs, cursors: after } = await alternate(opts, source.job(batch, users), pushJob('alt'));
        cursors.set(mode, after[1] ?? []);
        for (const { a: base, b: push, bCpuUs } of pairs) {
          assertClean(base, `baseline batch ${batch}`);
          assertClean(push, `push ${mode} batch ${batch}`);
          rounds.push(
            pushRound(base, push, { serverCpuUsPerChange: Math.round((bCpuUs / batch) * 10) / 10 }),
          );
        }
      }
      for (let r = 0; 'inProcess' in source && r < opts.rounds; r++) {
        const b0 = machineTicks();
        const base = await source.inProcess(batch, users);
        const b1 = machineTicks();
        // The server runs in this process: its event loop's busy share says whether the
        // server's JavaScript or the database (the rest of the machine) was the limit.
        const elu0 = performance.eventLoopUtilization();
        const push = await runJob<LoadResult>(pushJob(r), opts.warmupMs + opts.durationMs + 60_000);
        const serverLoopBusy = Math.round(performance.eventLoopUtilization(elu0).utilization * 100) / 100;
        const b2 = machineTicks();
        assertClean(push, `push ${mode} batch ${batch}`);
        cursors.set(mode, push.cursors ?? []);
        assertClean(base, `baseline batch ${batch}`);
        rounds.push(
          pushRound(base, push, {
            // Busy share of all cores while each ran (1 = both cores busy).
            machineBusy: busyShare(b1, b2),
            baselineMachineBusy: busyShare(b0, b1),
            serverLoopBusy,
          }),
        );
      }
      const targeted = mode === 'many' && batch === 100 && t.idPrefix === 'pg';
      figures.push(
        summarize(
          {
            id: `${t.idPrefix}.push.${mode}.b${batch}`,
            figure: `${t.label} push ingest, ${mode === 'many' ? `${opts.workers} users` : '1 heavy user'}, batch ${batch}`,
            unit: 'changes/s',
            baselineLabel: t.baselineLabel,
            ...(targeted ? { target: 'ratio >= 0.5' } : {}),
            command: t.command,
          },
          rounds,
          targeted ? (f) => f.ratio >= 0.5 : undefined,
        ),
      );
    }
  }
  return figures;
}

/** A round: the push against its baseline, with the push's latency and what `notes` adds. */
function pushRound(base: LoadResult, push: LoadResult, notes: Record<string, unknown>): Round {
  const value = rate(push);
  const baseline = rate(base);
  return {
    value,
    baseline,
    ratio: ratioOf(value, baseline, 'higher'),
    notes: { pushP50Ms: push.latency.p50, pushP99Ms: push.latency.p99, pushes: push.requests, ...notes },
  };
}

export function rate(r: LoadResult): number {
  return r.elapsedMs > 0 ? (r.units * 1000) / r.elapsedMs : 0;
}

export function assertClean(r: LoadResult, what: string): void {
  if (r.errors > 0) throw new Error(`${what}: ${r.errors} errors, first: ${r.firstError}`);
  if (r.requests === 0) throw new Error(`${what}: no request finished in the measured window`);
}
