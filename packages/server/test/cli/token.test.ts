import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenCommandLine } from '../../src/commands/token.js';
import { loadConfig } from '../../src/config.js';
import { SOURCE_BIN } from './bin.js';
import { startServeProcess } from './serve-process.js';

const token = (env: Record<string, string>) =>
  spawnSync(process.execPath, [...SOURCE_BIN, 'token', '--user', 'alice'], {
    env: { ...process.env, JWT_ISSUER: '', JWT_AUDIENCE: '', ...env },
    encoding: 'utf8',
  });

describe('mana-sync token says which dev key it used', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'mana-sync-token-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('on a data dir without a key: made a new one, which another server refuses', () => {
    const dir = join(tempDir(), 'wrong');
    const r = token({ MANA_SYNC_DATA_DIR: dir });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/); // only the token on stdout
    expect(r.stderr).toContain(`no dev key in ${dir}: made a new one`);
    expect(r.stderr).toContain('a server started on another data dir will refuse this token');
    const again = token({ MANA_SYNC_DATA_DIR: dir });
    expect(again.stderr.trim()).toBe(`mana-sync token: signed with the dev key ${join(dir, 'dev-jwk.json')}`);
  }, 60_000);

  it('the start-up hint names the data dir, and the command it shows mints a token the server accepts', async () => {
    const dir = tempDir();
    const server = await startServeProcess(['serve', '--dev-auth'], {
      MANA_SYNC_DATA_DIR: dir,
      JWT_ISSUER: '',
      JWT_AUDIENCE: '',
    });
    try {
      expect(server.stderr()).toContain(
        `Mint more: MANA_SYNC_DATA_DIR=${dir} npx mana-sync token --user alice`,
      );
      const minted = token({ MANA_SYNC_DATA_DIR: dir });
      expect(minted.stderr).toContain('signed with the dev key');
      const pull = await fetch(`${server.url}/sync/todo/pull?collection=todos`, {
        headers: { authorization: `Bearer ${minted.stdout.trim()}` },
      });
      expect(pull.status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('the hint leaves out what is the default, and quotes what a shell would split', () => {
    const base = { MANA_SYNC_DEV_AUTH: '1' };
    expect(tokenCommandLine(loadConfig(base))).toBe('npx mana-sync token --user alice');
    expect(
      tokenCommandLine(
        loadConfig({ ...base, MANA_SYNC_DATA_DIR: '/tmp/my data', JWT_AUDIENCE: 'mana-sync' }),
      ),
    ).toBe("MANA_SYNC_DATA_DIR='/tmp/my data' JWT_AUDIENCE=mana-sync npx mana-sync token --user alice");
  });
});
