import { execFile, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const PACKAGES = ['protocol', 'client', 'server'];

/**
 * What `npm start` and the image run: the bin under plain node, on a clean build. The build
 * happens in a copy of the workspace (nothing is written to this checkout's dist/), whose
 * node_modules links every dependency except tsx and esbuild, and whose sources are deleted
 * after the build except the SQL migrations: so the bin can neither transpile TypeScript nor
 * fall back to src/.
 */
describe('the mana-sync bin from a clean build', () => {
  const work = mkdtempSync(join(tmpdir(), 'mana-sync-built-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the build (npm run build: tsc -b tsconfig.build.json), then plain `node bin/mana-sync.js serve` answers /health on embedded PGlite', async () => {
    for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json'])
      cpSync(join(REPO, f), join(work, f));
    for (const p of PACKAGES) {
      const from = join(REPO, 'packages', p);
      for (const entry of ['package.json', 'tsconfig.json', 'src', 'bin'])
        if (existsSync(join(from, entry)))
          cpSync(join(from, entry), join(work, 'packages', p, entry), { recursive: true });
    }
    linkNodeModules(work);

    // Not built yet: the bin says what to run, instead of a module-resolution trace.
    const unbuilt = spawnSync(
      process.execPath,
      [join(work, 'packages/server/bin/mana-sync.js'), '--version'],
      {
        env: { ...process.env, NODE_OPTIONS: '' },
        encoding: 'utf8',
      },
    );
    expect(unbuilt.status).toBe(2);
    expect(unbuilt.stderr).toContain('run `npm run build` first');

    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-b', 'tsconfig.build.json'], {
      cwd: work,
      timeout: 90_000,
    });
    for (const p of PACKAGES) rmSync(join(work, 'packages', p, 'src'), { recursive: true });
    const migrations = join(REPO, 'packages/server/src/store/migrations');
    cpSync(migrations, join(work, 'packages/server/src/store/migrations'), { recursive: true });

    const dataDir = join(work, 'data');
    const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: '' };
    const child = spawn(
      process.execPath,
      [join(work, 'packages/server/bin/mana-sync.js'), 'serve', '--dev-auth'],
      {
        cwd: work,
        env: {
          ...env,
          PORT: '0',
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          MANA_SYNC_DATA_DIR: dataDir,
          DATABASE_URL: '',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        // A bin that never becomes ready must not outlive the test.
        setTimeout(() => reject(new Error(`the bin did not start in time:\n${err}`)), 60_000).unref();
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`the bin exited with ${code}:\n${err}`)));
      });
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', database: 'up', store: 'pglite' });
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
  }, 150_000);
});

/**
 * node_modules for the copy: links to this checkout's packages, except the workspace packages
 * (linked to the copy's own) and tsx/esbuild (absent, as in the image).
 */
function linkNodeModules(work: string): void {
  const from = join(REPO, 'node_modules');
  const to = join(work, 'node_modules');
  mkdirSync(join(to, '@mana'), { recursive: true });
  for (const name of readdirSync(from)) {
    if (name === 'tsx' || name === 'esbuild' || name === '@esbuild' || name === '@mana' || name === '.bin')
      continue;
    symlinkSync(join(from, name), join(to, name));
  }
  for (const p of PACKAGES) symlinkSync(join(work, 'packages', p), join(to, '@mana', `sync-${p}`));
}
