import { runAbuse } from './abuse-load.js';
import { runAlternating } from './alternating.js';
import type { Job, JobResult } from './jobs.js';
import { runPgInsert, runPgPull } from './pg-load.js';
import { runPull } from './pull-load.js';
import { runPushLoad } from './push-load.js';

/**
 * Entry of a load process (forked by the runner): receives one job over IPC, runs it,
 * sends one result and exits. A hard timeout ends it even if the server hangs.
 */

function run(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case 'http-push':
      return runPushLoad(job);
    case 'alternating':
      return runAlternating(job);
    case 'pg-insert':
      return runPgInsert(job);
    case 'pull':
      return runPull(job);
    case 'pg-pull':
      return runPgPull(job);
    case 'abuse':
      return runAbuse(job);
  }
}

const hardTimeoutMs = Number(process.env.BENCH_JOB_TIMEOUT_MS ?? 120_000);
setTimeout(() => {
  process.send?.({ error: `load process timed out after ${hardTimeoutMs} ms` });
  process.exit(3);
}, hardTimeoutMs).unref();

process.once('message', (job: Job) => {
  run(job).then(
    (result) => process.send?.({ result }, () => process.exit(0)),
    (err: unknown) => process.send?.({ error: String((err as Error)?.stack ?? err) }, () => process.exit(1)),
  );
});
