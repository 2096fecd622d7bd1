import { type ChildProcess, fork } from 'node:child_process';

/**
 * A forked bench process spoken to in turns over IPC: send a command, await its one reply.
 * Killed if still alive `timeoutMs` after start (it also ends itself by then).
 */
export interface IpcProcess {
  request<T>(msg: unknown): Promise<T>;
  /** The next message, without sending anything (the process's first report). */
  next<T>(): Promise<T>;
  kill(): void;
}

export function forkIpc(
  entry: string,
  args: string[],
  timeoutMs: number,
  execArgv: string[] = [],
): IpcProcess {
  const child: ChildProcess = fork(entry, args, {
    execArgv: [...execArgv, '--conditions=source', '--import', 'tsx'],
    env: { ...process.env, BENCH_JOB_TIMEOUT_MS: String(timeoutMs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
  child.once('exit', () => clearTimeout(kill));
  const next = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${entry}: process exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (msg: T & { error?: string }) => {
        child.off('exit', onExit);
        if (msg.error) reject(new Error(msg.error));
        else resolve(msg);
      });
    });
  return {
    next,
    request<T>(msg: unknown) {
      const reply = next<T>();
      child.send(msg as never);
      return reply;
    },
    kill() {
      clearTimeout(kill);
      child.kill('SIGKILL');
    },
  };
}
