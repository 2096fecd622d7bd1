import type { AlternatingJob, AlternatingResult, LoadResult, SliceableJob } from '../load/jobs.js';
import { runJob } from './fork-job.js';
import type { BenchOptions } from './options.js';

/** One slice of each job, adjacent in time, and this process's CPU time per operation in each. */
export interface SlicePair {
  a: LoadResult;
  b: LoadResult;
  /** CPU µs of this process (where the servers run) per operation, the slice's warm-up included. */
  aCpuUs: number;
  bCpuUs: number;
  /** The slices' numbers (the marks `onMark` saw for them). */
  aSlice: number;
  bSlice: number;
}

/**
 * Runs `a` and `b` in alternating slices from one load process (AlternatingJob) and pairs
 * each slice with its neighbour: four pairs a round, after one pair that warms both up and
 * is not counted. Each pair is a round of the figures built from it.
 */
export async function alternate(
  opts: BenchOptions,
  a: SliceableJob,
  b: SliceableJob,
  load: { cpu?: number; sliceMs?: number; onMark?: (mark: number) => void } = {},
): Promise<{ pairs: SlicePair[]; cursors: AlternatingResult['cursors'] }> {
  const durationMs = load.sliceMs ?? (opts.quick ? 400 : 1000);
  const slice = { warmupMs: opts.quick ? 100 : 200, durationMs, maxRequests: 0 };
  const job: AlternatingJob = { kind: 'alternating', jobs: [a, b], slices: 2 * (4 * opts.rounds + 1), slice };
  const cpuAt = new Map<number, NodeJS.CpuUsage[]>();
  const { slices, cursors } = await runJob<AlternatingResult>(
    job,
    // A slice ends when its last operation does: a slow machine's 1,000-change pushes, which
    // one heavy user's connections take in turn, can stretch each slice by seconds.
    job.slices * 3 * (slice.warmupMs + slice.durationMs) + 120_000,
    {
      cpu: load.cpu,
      onMark: (n) => {
        cpuAt.set(n, [...(cpuAt.get(n) ?? []), process.cpuUsage()]);
        load.onMark?.(n);
      },
    },
  );
  const cpuUs = (n: number) => {
    const [from, to] = cpuAt.get(n) ?? [];
    if (!from || !to) throw new Error(`slice ${n}: no CPU reading`);
    return (to.user - from.user + to.system - from.system) / Math.max(1, slices[n]!.total);
  };
  const pairs: SlicePair[] = [];
  for (let n = 2; n + 1 < slices.length; n += 2) {
    const [ia, ib] = slices[n]!.job === 0 ? [n, n + 1] : [n + 1, n];
    pairs.push({
      a: slices[ia]!,
      b: slices[ib]!,
      aCpuUs: cpuUs(ia),
      bCpuUs: cpuUs(ib),
      aSlice: ia,
      bSlice: ib,
    });
  }
  return { pairs, cursors };
}
