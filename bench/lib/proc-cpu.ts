import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Where a server's CPU goes, from /proc (Linux): its own process's CPU time, and that of the
 * PostgreSQL backends serving its connections (found by the client ports of its sockets, so
 * other clients of the same PostgreSQL, such as other benchmarks or tests, do not count).
 * Diagnostics beside a latency figure: a node process near one core means its event loop was
 * the queue; backends near the machine's cores mean PostgreSQL was.
 */
export interface CpuReading {
  at: number;
  /** CPU ms of the server process. */
  serverMs: number;
  /** CPU ms of each backend serving it, by pid. */
  backends: Map<number, number>;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of a process, in ms (0 when it is gone). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Local ports of the TCP sockets `pid` has open. */
function localPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.add(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** PostgreSQL backends whose client is one of `ports` (their title names "127.0.0.1(port)"). */
function backendsOf(ports: Set<number>): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const m = /^postgres: .*\((\d+)\)/.exec(title);
      if (m && ports.has(Number(m[1]))) out.push(Number(entry));
    } catch {}
  }
  return out;
}

/** Reads the CPU of `serverPid` and of its backends (looked up afresh: the pool may grow). */
export function readCpu(serverPid: number): CpuReading {
  const backends = new Map<number, number>();
  try {
    for (const pid of backendsOf(localPorts(serverPid))) backends.set(pid, cpuMs(pid));
  } catch {}
  return { at: performance.now(), serverMs: cpuMs(serverPid), backends };
}

/** Share of one core (1 = a whole core) each side used between two readings. */
export function cpuShare(from: CpuReading, to: CpuReading): { server: number; backends: number } {
  const ms = Math.max(1, to.at - from.at);
  // A backend new since `from` counts all its CPU (it started in between).
  let backendsMs = 0;
  for (const [pid, cpu] of to.backends) backendsMs += cpu - (from.backends.get(pid) ?? 0);
  return {
    server: Math.round(((to.serverMs - from.serverMs) / ms) * 100) / 100,
    backends: Math.round((backendsMs / ms) * 100) / 100,
  };
}
