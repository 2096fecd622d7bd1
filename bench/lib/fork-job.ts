import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Job, JobResult } from '../load/jobs.js';

const MAIN = fileURLToPath(new URL('../load/main.ts', import.meta.url));

/**
 * Runs one job in a fresh load process on this machine (loopback only) and returns its
 * result. The process ends itself after `timeoutMs`; if it does not, it is killed.
 */
export function runJob<R extends JobResult>(job: Job, timeoutMs: number): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = fork(MAIN, [], {
      execArgv: ['--import', 'tsx'],
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
    child.on('message', (msg: { result?: R; error?: string }) => {
      if (msg.error) finish(() => reject(new Error(`${job.kind}: ${msg.error}`)));
      else finish(() => resolve(msg.result!));
    });
    child.on('exit', (code) =>
      finish(() => reject(new Error(`${job.kind}: load process exited with ${code}`))),
    );
    child.on('error', (err) => finish(() => reject(err)));
    child.send(job);
  });
}
