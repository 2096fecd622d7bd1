import { closedLoop, type OpenLoad } from './closed-loop.js';
import type { AlternatingJob, AlternatingResult, SliceableJob } from './jobs.js';
import { openPgInsert } from './pg-load.js';
import { openPushLoad } from './push-load.js';

/** Slice n's job: A B B A A B B A ... (a linear drift weighs on both alike). */
export const sliceJob = (n: number): 0 | 1 => (((n + 1) >> 1) % 2) as 0 | 1;

const open = (job: SliceableJob): Promise<OpenLoad> =>
  job.kind === 'http-push' ? openPushLoad(job) : openPgInsert(job);

export async function runAlternating(job: AlternatingJob): Promise<AlternatingResult> {
  const loads = [await open(job.jobs[0]), await open(job.jobs[1])] as const;
  const slices: AlternatingResult['slices'] = [];
  try {
    for (let n = 0; n < job.slices; n++) {
      const which = sliceJob(n);
      process.send?.({ mark: n });
      loads[which].begin?.();
      const result = await closedLoop(job.jobs[which].workers, job.slice, (w) => loads[which].step(w));
      const alongside = await loads[which].end?.();
      process.send?.({ mark: n });
      slices.push({ ...result, ...(alongside ? { alongside } : {}), job: which });
    }
    return { slices, cursors: [loads[0].cursors(), loads[1].cursors()] };
  } finally {
    for (const l of loads) await l.close();
  }
}
