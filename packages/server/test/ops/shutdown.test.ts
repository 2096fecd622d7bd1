import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { pgliteDb } from '../../src/db/pglite.js';
import { sql } from '../../src/db/sql.js';

const BIN = fileURLToPath(new URL('../../bin/mana-sync.js', import.meta.url));
const GRACE_MS = 8000;

/** `mana-sync serve` as a child process on a free port, with its own embedded data directory. */
async function spawnServer(dataDir: string) {
  const child = spawn(process.execPath, [BIN, 'serve', '--dev-auth'], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      MANA_SYNC_DATA_DIR: dataDir,
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
      DATABASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, at: performance.now() })),
  );
  const until = async (what: () => boolean, label: string) => {
    for (let i = 0; i < 600 && !what(); i++) {
      if (child.exitCode !== null) throw new Error(`child exited while waiting for ${label}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!what()) throw new Error(`timed out waiting for ${label}: ${stderr}`);
  };
  await until(() => /listening on (\S+)/.test(stderr) && /\neyJ\S+\n/.test(stderr), 'start-up');
  const url = /listening on (\S+)/.exec(stderr)![1]!;
  const token = /\n(eyJ\S+)\n/.exec(stderr)![1]!;
  return { child, url, token, exited, until, stdout: () => stdout };
}

describe('graceful shutdown of mana-sync serve', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('SIGTERM during a push: the push finishes (200, committed), new requests are refused, exit 0 within the grace', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mana-sync-shutdown-'));
    dirs.push(dataDir);
    const s = await spawnServer(dataDir);
    children.push(s.child);

    const changes = Array.from({ length: 2000 }, (_, i) => ({
      table: 'todos',
      id: `t${i}`,
      op: 'insert',
      fields: { title: { value: `todo ${i} ${'x'.repeat(200)}`, updatedAt: '2026-01-01T00:00:00Z' } },
    }));
    const body = Buffer.from(JSON.stringify({ clientId: 'c1', changes }));
    const { port } = new URL(s.url);

    // The push is in flight: its headers are in and the handler is waiting for the body.
    // (`Expect: 100-continue` tells us exactly when the server has taken the request.)
    let signalledAt = 0;
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/sync/todo',
        headers: {
          authorization: `Bearer ${s.token}`,
          'content-type': 'application/json',
          'content-length': body.length,
          expect: '100-continue',
        },
      });
      req.on('continue', async () => {
        signalledAt = performance.now();
        s.child.kill('SIGTERM');
        try {
          await s.until(() => s.stdout().includes('"shutting down"'), 'the shutdown log line');
          // Shutting down: a new request is not taken (refused connection or 503).
          const late = await fetch(`${s.url}/sync/todo/pull?collection=todos`, {
            headers: { authorization: `Bearer ${s.token}` },
          }).then(
            (r) => r.status,
            () => 'refused',
          );
          expect([503, 'refused']).toContain(late);
          req.end(body);
        } catch (err) {
          reject(err);
        }
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });

    const res = await response;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).serverChanges).toHaveLength(1000); // capped page; all 2000 committed
    const { code, at } = await s.exited;
    expect(code).toBe(0);
    expect(at - signalledAt).toBeLessThan(GRACE_MS);

    // The push was committed before it was acknowledged: its records are in the data directory.
    const db = await pgliteDb(dataDir);
    try {
      const [row] = await db.query<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM sync_records WHERE user_id = ${'dev-user'} AND app_id = ${'todo'}`,
      );
      expect(row!.n).toBe(2000);
    } finally {
      await db.close();
    }
  }, 120_000);
});
