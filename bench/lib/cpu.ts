import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * CPU pinning for the request-path figures. On a 2-core machine an unpinned load process
 * competes with the server it measures, so a server that needs more CPU per request also
 * gets less of it, and the ratio swings with the scheduler (seen here: the same build
 * measured 94 and 140 µs of CPU per request in alternate rounds). Pinned, the server side
 * (this process, all its threads: mana-sync and the echo) has core 0 and the load core 1,
 * like a server whose clients are other machines. Off where taskset or a second core is missing.
 */
export interface Pinning {
  serverCpu: number;
  loadCpu: number;
}

export function pinServerSide(): Pinning | undefined {
  if (process.platform !== 'linux' || availableParallelism() < 2) return undefined;
  try {
    execFileSync('/usr/bin/taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return { serverCpu: 0, loadCpu: 1 };
  } catch {
    return undefined;
  }
}

/** Lets this process run on every core again. */
export function unpin(): void {
  try {
    execFileSync(
      '/usr/bin/taskset',
      ['-a', '-p', '-c', `0-${availableParallelism() - 1}`, String(process.pid)],
      {
        stdio: 'ignore',
      },
    );
  } catch {}
}

/** Busy share of all cores (1 = every core busy) between two `machineTicks()` readings. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export function busyShare(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const total = b.total - a.total;
  return total > 0 ? Math.round(((b.busy - a.busy) / total) * 100) / 100 : 0;
}

/** Microseconds of one clock tick in /proc/<pid>/stat (USER_HZ is 100 on Linux). */
const TICK_US = 10_000;

/**
 * CPU time from one process's /proc/<pid>/stat text, in µs: its own (utime + stime) and its
 * reaped children's (cutime + cstime). Fields are counted after the `)` that ends the
 * command name, which may itself hold spaces.
 */
export function statCpuUs(stat: string): { own: number; children: number } {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    own: (Number(f[11]) + Number(f[12])) * TICK_US,
    children: (Number(f[13]) + Number(f[14])) * TICK_US,
  };
}
