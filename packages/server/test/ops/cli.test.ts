import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startServer } from '../../src/server.js';
import { SOURCE_BIN } from '../cli/bin.js';

const run = promisify(execFile);

/** Runs the real CLI; resolves with its exit code and output whatever the code. */
async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [...SOURCE_BIN, ...args], {
      env: { ...process.env, DATABASE_URL: '', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('mana-sync CLI', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'mana-sync-cli-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('stats and compact on an embedded data directory; refused while a server holds it', async () => {
    const dataDir = tempDir();
    const env = { MANA_SYNC_DATA_DIR: dataDir };
    const server = await startServer({
      config: { port: 0, host: '127.0.0.1', dataDir, devAuth: true, databaseUrl: undefined },
      logger: createLogger('silent'),
    });
    try {
      const token = await server.context.devIssuer!.mint('alice');
      const res = await fetch(`${server.url}/sync/todo`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          clientId: 'c1',
          changes: [1, 2, 3].map((i) => ({
            table: 'todos',
            id: `t${i}`,
            op: 'insert',
            fields: { title: { value: `${i}`, updatedAt: '2026-01-01T00:00:00Z' } },
          })),
        }),
      });
      expect(res.status).toBe(200);
      // PGlite is one process per directory: a second opener is refused, naming the holder.
      const busy = await cli(['stats'], env);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toContain(`in use by process ${process.pid}`);
    } finally {
      await server.close();
    }

    const typo = await cli(['compact', '--older-then', '3'], env);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('mana-sync compact');
    expect(typo.stderr).toContain('--older-than <value>'); // the help follows the error

    const stats = await cli(['stats', '--json'], env);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toEqual({
      apps: [{ appId: 'todo', records: 3, deletedRecords: 0, changes: 3, users: 1 }],
    });
    const table = await cli(['stats'], env);
    expect(table.stdout).toMatch(/^app\s+records\s+deleted\s+changes\s+users$/m);
    expect(table.stdout).toMatch(/^todo\s+3\s+0\s+3\s+1$/m);
    expect(table.stdout).toMatch(/^\(all\)\s+3\s+0\s+3\s+-$/m);

    // Default retention (30 days) keeps today's rows; --older-than 0 drops every log row.
    const kept = await cli(['compact'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain('deleted 0 change-log rows older than 30 days');
    const dropped = await cli(['compact', '--older-than', '0', '--batch-size', '2'], env);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout).toContain('deleted 3 change-log rows older than 0 days');
    expect(dropped.stderr).toContain('compact: 1/1 users, 3 rows deleted');
    const after = JSON.parse((await cli(['stats', '--json'], env)).stdout);
    expect(after.apps).toEqual([{ appId: 'todo', records: 3, deletedRecords: 0, changes: 0, users: 1 }]);
  }, 180_000);
});
