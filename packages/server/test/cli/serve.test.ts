import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, startServeProcess } from './serve-process.js';

/** What README promises: `npm start` on a bare machine (embedded PGlite, dev auth). */
describe('mana-sync serve --dev-auth on the embedded database', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mana-sync-serve-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('answers /health, accepts a push with the printed token, and keeps the data across a restart', async () => {
    const first = await startServeProcess(['serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: dataDir });
    try {
      expect(first.stderr()).toContain('embedded PGlite');
      const health = await fetch(`${first.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', database: 'up', store: 'pglite' });
      const push = await fetch(`${first.url}/sync/todo`, {
        method: 'POST',
        headers: { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          clientId: 'readme',
          changes: [
            {
              table: 'todos',
              id: 'todo-123',
              op: 'insert',
              fields: { title: { value: 'Buy milk', updatedAt: '2024-01-01T10:05:00Z' } },
            },
          ],
        }),
      });
      expect(push.status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    // The token minted by the CLI (another process) is accepted: the dev key lives in the data dir.
    const minted = spawnSync(process.execPath, [BIN, 'token', '--user', 'dev-user'], {
      env: { ...process.env, MANA_SYNC_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(minted.status).toBe(0);
    const second = await startServeProcess(['serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: dataDir });
    try {
      const pull = await fetch(`${second.url}/sync/todo/pull?collection=todos`, {
        headers: { authorization: `Bearer ${minted.stdout.trim()}` },
      });
      expect(pull.status).toBe(200);
      const body = (await pull.json()) as {
        serverChanges: Array<{ id: string; fields: { title: { value: string } } }>;
      };
      expect(body.serverChanges.map((c) => [c.id, c.fields.title.value])).toEqual([['todo-123', 'Buy milk']]);
    } finally {
      await second.stop();
    }
  }, 180_000); // two process starts and a CLI run: slow on a loaded 2-core machine

  it('stops start-up with one line naming a bad variable', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, PORT: 'eighty' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('mana-sync: PORT must be a whole number from 0 to 65535, got "eighty"');
  });

  it('refuses dev auth in production', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--dev-auth'], {
      env: { ...process.env, NODE_ENV: 'production', MANA_SYNC_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('MANA_SYNC_DEV_AUTH=1 is refused when NODE_ENV=production');
  });

  it('prints --help for every command', () => {
    for (const args of [
      ['--help'],
      ['serve', '--help'],
      ['migrate', '--help'],
      ['token', '--help'],
      ['compact', '--help'],
      ['stats', '--help'],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/mana-sync/);
    }
    const unknown = spawnSync(process.execPath, [BIN, 'frobnicate'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
  });
});
