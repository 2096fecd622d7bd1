import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { busyShare, machineTicks } from '../lib/cpu.js';
import { runJob } from '../lib/fork-job.js';
import type { BenchOptions } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import type { LoadResult } from '../load/jobs.js';

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
  /** Raw insert rate of `batch` rows, same concurrency; the store's same-driver baseline. */
  baseline(batch: number, users: number): Promise<LoadResult>;
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
      for (let r = 0; r < opts.rounds; r++) {
        const b0 = machineTicks();
        const base = await t.baseline(batch, mode === 'many' ? opts.workers : 1);
        const b1 = machineTicks();
        // The server runs in this process: its event loop's busy share says whether the
        // server's JavaScript or the database (the rest of the machine) was the limit.
        const elu0 = performance.eventLoopUtilization();
        const push = await runJob<LoadResult>(
          {
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
          },
          opts.warmupMs + opts.durationMs + 60_000,
        );
        const serverLoopBusy = Math.round(performance.eventLoopUtilization(elu0).utilization * 100) / 100;
        const b2 = machineTicks();
        assertClean(push, `push ${mode} batch ${batch}`);
        cursors.set(mode, push.cursors ?? []);
        assertClean(base, `baseline batch ${batch}`);
        const value = rate(push);
        const baseline = rate(base);
        rounds.push({
          value,
          baseline,
          ratio: ratioOf(value, baseline, 'higher'),
          notes: {
            pushP50Ms: push.latency.p50,
            pushP99Ms: push.latency.p99,
            pushes: push.requests,
            // Busy share of all cores while each ran (1 = both cores busy).
            machineBusy: busyShare(b1, b2),
            baselineMachineBusy: busyShare(b0, b1),
            serverLoopBusy,
          },
        });
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

export function rate(r: LoadResult): number {
  return r.elapsedMs > 0 ? (r.units * 1000) / r.elapsedMs : 0;
}

export function assertClean(r: LoadResult, what: string): void {
  if (r.errors > 0) throw new Error(`${what}: ${r.errors} errors, first: ${r.firstError}`);
  if (r.requests === 0) throw new Error(`${what}: no request finished in the measured window`);
}
