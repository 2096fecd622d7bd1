import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Job, JobResult } from '../load/jobs.js';

const MAIN = fileURLToPath(new URL('../load/main.ts', import.meta.url));
const TASKSET = '/usr/bin/taskset';

/**
 * Runs one job in a fresh load process on this machine (loopback only) and returns its
 * result. The process ends itself after `timeoutMs`; if it does not, it is killed.
 */
export function runJob<R extends JobResult>(
  job: Job,
  timeoutMs: number,
  opts: { cpu?: number; onMark?: (mark: number) => void } = {},
): Promise<R> {
  return new Promise((resolve, reject) => {
    // Pinned (Linux taskset): the load process gets a core of its own (see cpu.ts).
    const pinned =
      opts.cpu !== undefined
        ? {
            execPath: TASKSET,
            execArgv: ['-c', String(opts.cpu), process.execPath, '--conditions=source', '--import', 'tsx'],
          }
        : { execArgv: ['--conditions=source', '--import', 'tsx'] };
    const child = fork(MAIN, [], {
      ...pinned,
      env: { ...process.env, BENCH_JOB_TIMEOUT_MS: String(timeoutMs) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(kill);
      fn();
    };
    const kill = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new Error(`${job.kind}: load process killed after ${timeoutMs + 5000} ms`)));
    }, timeoutMs + 5000);
    child.on('message', (msg: { result?: R; error?: string; mark?: number }) => {
      if (msg.mark !== undefined) opts.onMark?.(msg.mark);
      else if (msg.error) finish(() => reject(new Error(`${job.kind}: ${msg.error}`)));
      else finish(() => resolve(msg.result!));
    });
    child.on('exit', (code) =>
      finish(() => reject(new Error(`${job.kind}: load process exited with ${code}`))),
    );
    child.on('error', (err) => finish(() => reject(err)));
    child.send(job);
  });
}
