import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/mana-sync.js', import.meta.url));

/** A `mana-sync serve` child process on an ephemeral loopback port. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything it wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts the CLI with `env` added to this process's environment; resolves once it prints its URL. */
export async function startServerProcess(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within ${timeoutMs} ms:\n${err}`)), timeoutMs);
      const check = () => {
        const m = / listening on (http:\/\/\S+) /.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mana-sync exited with ${code}:\n${err}`));
      });
    });
    return { url, child, stderr: () => err, stop };
  } catch (e) {
    await stop(0);
    throw e;
  }
}
