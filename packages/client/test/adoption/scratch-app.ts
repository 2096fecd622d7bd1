import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The workspace root (this file is packages/client/test/adoption/). */
export const ROOT = new URL('../../../../', import.meta.url).pathname.replace(/\/$/, '');

/**
 * The environment of npm and node in the scratch app: nothing inherited from the workspace's
 * own `npm test` (npm_config_* would steer npm, NODE_OPTIONS could add the "source" condition)
 * and a registry that does not exist, so the install provably needs no network.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

export interface Tarball {
  name: string;
  file: string;
  /** Packed size in bytes. */
  size: number;
}

async function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function pack(args: string[], dest: string, env: NodeJS.ProcessEnv): Promise<Tarball[]> {
  await mkdir(dest, { recursive: true });
  const out = await npm(
    ['pack', ...args, '--pack-destination', dest, '--json', '--ignore-scripts'],
    ROOT,
    env,
  );
  return (JSON.parse(out) as Array<{ name: string; filename: string; size: number }>).map((t) => ({
    name: t.name,
    file: join(dest, t.filename),
    size: t.size,
  }));
}

/** `npm run build`, then `npm pack` of both packages: the artifacts an app installs. */
export async function buildAndPack(dest: string, cache: string): Promise<Tarball[]> {
  const env = cleanEnv({ npm_config_cache: cache });
  await npm(['run', 'build'], ROOT, env);
  return pack(['-w', '@mana/sync-protocol', '-w', '@mana/sync-client'], dest, env);
}

/**
 * The app's other packages, packed from the workspace's installed copies (the registry is not
 * asked at test time): Dexie 4.0.11, the oldest the client supports (root dev alias
 * dexie-4-0-11), zod (the packages' dependency), and what Node needs: fake-indexeddb and ws.
 */
export async function packAppDependencies(dest: string, cache: string): Promise<Tarball[]> {
  const dirs = ['dexie-4-0-11', 'zod', 'fake-indexeddb', 'ws'].map((d) => join(ROOT, 'node_modules', d));
  return pack(dirs, dest, cleanEnv({ npm_config_cache: cache }));
}

/** An app outside the workspace with the tarballs installed, offline, and the device script. */
export async function createScratchApp(dir: string, tarballs: Tarball[], cache: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'scratch-notes-app', private: true, type: 'module' }, null, 2),
  );
  await npm(
    ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs.map((t) => t.file)],
    dir,
    cleanEnv({ npm_config_cache: cache }),
  );
  await copyFile(new URL('./device.mjs', import.meta.url), join(dir, 'device.mjs'));
}

/** Every installed package named `name` in the app's node_modules (nested copies included). */
export async function installedCopies(appDir: string, name: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const pkgDir = join(dir, e);
      if (e.startsWith('.') || !(await stat(pkgDir)).isDirectory()) continue;
      if (e.startsWith('@')) {
        await walk(pkgDir);
        continue;
      }
      try {
        const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { name?: string };
        if (pkg.name === name) found.push(relative(appDir, pkgDir));
      } catch {}
      await walk(join(pkgDir, 'node_modules'));
    }
  }
  await walk(join(appDir, 'node_modules'));
  return found;
}
