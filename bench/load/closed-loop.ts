import { latencyOf } from '../lib/stats.js';
import type { LoadResult, Timing } from './jobs.js';

/** A load with its connections open: one operation at a time per worker. */
export interface OpenLoad {
  /** One operation of worker `w`; resolves with the units it did (changes, rows). */
  step(w: number): Promise<number>;
  /** A push load's cursors (each worker's last syncedUntil), when it tracks them. */
  cursors(): Array<string | undefined> | undefined;
  /** Alternating jobs: called before and after each of this job's slices. */
  begin?(): void;
  /** Resolves with the answers of a load that ran alongside, by HTTP status. */
  end?(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * Runs `workers` loops, each with one operation in flight, for warm-up plus the measured
 * window; no operation starts after the window. Each operation's units count in proportion
 * to how much of it lies inside the window, so an operation longer than the window (a
 * 1,000-change push on a busy machine) still counts fairly. Stops early after `maxRequests`
 * measured operations, or after too many errors.
 */
export async function closedLoop(
  workers: number,
  timing: Timing,
  step: (worker: number) => Promise<number>,
): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + timing.warmupMs;
  let stopAt = measureFrom + timing.durationMs;
  const done: Array<{ t0: number; t1: number; units: number }> = [];
  let finishedInWindow = 0;
  let errors = 0;
  let firstError: string | undefined;

  const loop = async (w: number) => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      try {
        const units = await step(w);
        const t1 = performance.now();
        done.push({ t0, t1, units });
        if (t1 >= measureFrom && t1 <= stopAt) {
          finishedInWindow++;
          if (timing.maxRequests > 0 && finishedInWindow >= timing.maxRequests) stopAt = t1;
        }
      } catch (err) {
        errors++;
        firstError ??= String((err as Error)?.message ?? err);
        if (errors > 50) stopAt = performance.now();
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));

  let units = 0;
  const inWindow: number[] = [];
  for (const d of done) {
    const overlap = Math.min(d.t1, stopAt) - Math.max(d.t0, measureFrom);
    if (overlap > 0) units += d.units * (d.t1 > d.t0 ? overlap / (d.t1 - d.t0) : 1);
    if (d.t1 >= measureFrom && d.t1 <= stopAt) inWindow.push(d.t1 - d.t0);
  }
  // Latency of what finished inside the window; if an operation outlasts the window, of all.
  const samples = inWindow.length > 0 ? inWindow : done.map((d) => d.t1 - d.t0);
  return {
    units,
    requests: samples.length,
    total: done.length,
    elapsedMs: stopAt - measureFrom,
    latency: latencyOf(samples),
    errors,
    ...(firstError ? { firstError } : {}),
  };
}
