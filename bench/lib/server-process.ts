import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SeedScript } from './abuse-seed.js';

/**
 * A mana-sync in a process of its own (startServer() on a PostgreSQL schema), for figures
 * about the server's memory: a fresh process has no high-water mark left by earlier load,
 * and the kernel's maxRSS of that process is its true peak.
 *
 *   runner ──fork──▶ server process: startServer(), mint a token ──▶ {port, token}
 *   runner ── "stop" ──▶ server process ──▶ {maxRssMb, startRssMb}, close, exit
 */
export interface ServerProcess {
  port: number;
  /** The server process's pid: its /proc/<pid>/status can be sampled while it serves. */
  pid: number;
  token: string;
  /** Tokens of the `others` users, by user id. */
  tokens: Record<string, string>;
  /** Stops the server; resolves with its peak RSS and its RSS right after start, in MB. */
  stop(): Promise<{ maxRssMb: number; startRssMb: number }>;
}

const ENTRY = fileURLToPath(new URL('./server-process-main.ts', import.meta.url));

export function startServerProcess(
  db: { url: string; schema: string } | { pglite: true; seed: SeedScript[] },
  userId: string,
  timeoutMs: number,
  others: string[] = [],
  /** The per-user fair-share limits at their defaults (servers.ts, startMana): abuse figures. */
  userLimits = false,
): Promise<ServerProcess> {
  const child: ChildProcess = fork(ENTRY, [JSON.stringify({ ...db, userId, others, userLimits })], {
    execArgv: [
      '--conditions=source',
      '--import',
      'tsx',
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ') ?? []),
    ],
    env: { ...process.env, BENCH_JOB_TIMEOUT_MS: String(timeoutMs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
  const next = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`server process exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (msg: T & { error?: string }) => {
        child.off('exit', onExit);
        if (msg.error) reject(new Error(msg.error));
        else resolve(msg);
      });
    });
  return next<{ port: number; token: string; tokens: Record<string, string> }>().then(
    ({ port, token, tokens }) => ({
      port,
      pid: child.pid!,
      token,
      tokens,
      async stop() {
        const reply = next<{ maxRssMb: number; startRssMb: number }>();
        child.send('stop');
        const out = await reply;
        clearTimeout(kill);
        return out;
      },
    }),
    (err) => {
      clearTimeout(kill);
      child.kill('SIGKILL');
      throw err;
    },
  );
}
