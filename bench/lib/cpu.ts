import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * CPU pinning for the request-path figures. On a 2-core machine an unpinned load process
 * competes with the server it measures, so a server that needs more CPU per request also
 * gets less of it, and the ratio swings with the scheduler (seen here: the same build
 * measured 94 and 140 µs of CPU per request in alternate rounds). Pinned, the server side
 * (this process: mana-sync and the echo, one at a time) has core 0 and the load core 1,
 * like a server whose clients are other machines. Off where taskset or a second core is missing.
 */
export interface Pinning {
  serverCpu: number;
  loadCpu: number;
}

export function pinServerSide(): Pinning | undefined {
  if (process.platform !== 'linux' || availableParallelism() < 2) return undefined;
  try {
    execFileSync('/usr/bin/taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return { serverCpu: 0, loadCpu: 1 };
  } catch {
    return undefined;
  }
}

/** Lets this process run on every core again. */
export function unpin(): void {
  try {
    execFileSync('/usr/bin/taskset', ['-p', '-c', `0-${availableParallelism() - 1}`, String(process.pid)], {
      stdio: 'ignore',
    });
  } catch {}
}
