import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SOURCE_BIN } from './bin.js';
import { startServeProcess } from './serve-process.js';

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
    const minted = spawnSync(process.execPath, [...SOURCE_BIN, 'token', '--user', 'dev-user'], {
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
    const r = spawnSync(process.execPath, [...SOURCE_BIN, 'serve'], {
      env: { ...process.env, PORT: 'eighty' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('mana-sync: PORT must be a whole number from 0 to 65535, got "eighty"');
  });

  it('refuses dev auth in production', () => {
    const r = spawnSync(process.execPath, [...SOURCE_BIN, 'serve', '--dev-auth'], {
      env: { ...process.env, NODE_ENV: 'production', MANA_SYNC_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('MANA_SYNC_DEV_AUTH=1 is refused when NODE_ENV=production');
  });

  it('with dev auth and no HOST, listens on 127.0.0.1 only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mana-sync-serve-host-'));
    const p = await startServeProcess(['serve', '--dev-auth'], { MANA_SYNC_DATA_DIR: dir, HOST: '' });
    try {
      expect(p.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${p.url}/health`)).status).toBe(200);
      // Any other address of this machine: nobody on the network reaches the dev issuer.
      const port = new URL(p.url).port;
      const others = Object.values(networkInterfaces())
        .flat()
        .filter((a) => a && a.family === 'IPv4' && !a.internal);
      for (const a of others) {
        await expect(fetch(`http://${a!.address}:${port}/health`)).rejects.toThrow();
      }
    } finally {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.each([
    [{ NODE_ENV: ' Production ' }, /^mana-sync: MANA_SYNC_DEV_AUTH=1 is refused when NODE_ENV=production/],
    [{ NODE_ENV: 'prod' }, /^mana-sync: MANA_SYNC_DEV_AUTH=1 is refused when NODE_ENV=production/],
    [
      { DATABASE_URL: 'postgresql://mana@db.example.com/mana_sync' },
      /^mana-sync: MANA_SYNC_DEV_AUTH=1 is refused with a DATABASE_URL off loopback \(host "db.example.com"\); set MANA_SYNC_DEV_AUTH_UNSAFE=1/,
    ],
  ])('refuses --dev-auth with %o, in one line naming the variable', (env, line) => {
    const r = spawnSync(process.execPath, [...SOURCE_BIN, 'serve', '--dev-auth'], {
      env: { ...process.env, MANA_SYNC_DATA_DIR: dataDir, ...env },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(line);
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
      const r = spawnSync(process.execPath, [...SOURCE_BIN, ...args], { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/mana-sync/);
    }
    const unknown = spawnSync(process.execPath, [...SOURCE_BIN, 'frobnicate'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
  });
});
