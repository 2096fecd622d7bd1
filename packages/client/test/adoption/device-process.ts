import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { deserialize, serialize } from 'node:v8';
import { cleanEnv } from './scratch-app.js';

/** A device: `node device.mjs` in the scratch app, a process of its own, driven by commands. */
export interface DeviceProcess {
  call<T = unknown>(cmd: string, arg?: unknown): Promise<T>;
  /** What the device wrote to stderr so far (Dexie's and the client's warnings). */
  stderr(): string;
  close(): Promise<void>;
}

export function startDevice(appDir: string, env: { SYNC_URL: string; SYNC_USER: string }): DeviceProcess {
  const child: ChildProcess = spawn(process.execPath, ['device.mjs'], {
    cwd: appDir,
    env: cleanEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  let next = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      for (const w of waiting.values()) w.reject(new Error(`device exited (${code}): ${stderr}`));
      waiting.clear();
      resolve();
    }),
  );
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('RPC ')) return;
    const { id, ok, value, error } = JSON.parse(line.slice(4)) as {
      id: number;
      ok: boolean;
      value?: string;
      error?: string;
    };
    const w = waiting.get(id);
    waiting.delete(id);
    if (!ok) w?.reject(new Error(`device: ${error}`));
    else w?.resolve(value === undefined ? undefined : deserialize(Buffer.from(value, 'base64')));
  });
  return {
    call<T>(cmd: string, arg?: unknown) {
      const id = ++next;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        const payload = arg === undefined ? undefined : serialize(arg).toString('base64');
        child.stdin!.write(`${JSON.stringify({ id, cmd, arg: payload })}\n`);
      });
    },
    stderr: () => stderr,
    async close() {
      if (child.exitCode !== null) return;
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
