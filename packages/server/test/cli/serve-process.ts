import { type ChildProcess, spawn } from 'node:child_process';
import { SOURCE_BIN } from './bin.js';

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** The dev token printed at start-up, when dev auth is on. */
  token?: string;
  stderr(): string;
  /** SIGTERM and wait for the exit code (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | null>;
}

/** Starts `mana-sync serve` as a real process and waits for its "listening on" line. */
export async function startServeProcess(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000, // start-up takes seconds, longer on a loaded 2-core CI machine
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...SOURCE_BIN, ...args], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout!.resume();
  const ready = new Promise<{ url: string; token?: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // a child that never became ready must not outlive the test
      reject(new Error(`server did not start in time:\n${err}`));
    }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(err)?.[1];
      const token = /valid 24 h:\n(\S+)\n/.exec(err)?.[1];
      if (url && (token || !args.includes('--dev-auth'))) {
        clearTimeout(timer);
        resolve({ url, ...(token ? { token } : {}) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${err}`));
    });
  });
  const { url, token } = await ready;
  return {
    child,
    url,
    ...(token ? { token } : {}),
    stderr: () => err,
    stop(ms = 15_000) {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      return new Promise((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), ms);
        child.once('exit', (code) => {
          clearTimeout(kill);
          resolve(code);
        });
        child.kill('SIGTERM');
      });
    },
  };
}
