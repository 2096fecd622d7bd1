import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, SETTINGS } from '../../src/config.js';

/**
 * The container files, checked without a Docker engine (there is none here or in CI):
 * the compose file parses and wires the right names; the Dockerfile is multi-stage, runs the
 * build with production dependencies only, and runs unprivileged. scripts/check-container.sh goes further
 * and replays the Dockerfile's stages on this machine.
 */
const root = (p: string) => fileURLToPath(new URL(`../../../../${p}`, import.meta.url));
const read = (p: string) => readFileSync(root(p), 'utf8');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  networks?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  ports?: string[];
  volumes?: string[];
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<string, ComposeService>;
    networks: Record<string, { name?: string }>;
    volumes?: Record<string, unknown>;
  };
  const sync = compose.services['mana-sync']!;
  const pg = compose.services['mana-postgres']!;

  it('has mana-sync and mana-postgres on the mana-net network', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['mana-postgres', 'mana-sync']);
    expect(compose.networks['mana-net']?.name).toBe('mana-net');
    expect(sync.networks).toEqual(['mana-net']);
    expect(pg.networks).toEqual(['mana-net']);
  });

  it('gives PostgreSQL user mana / devpassword / mana_sync, and mana-sync a URL that matches', () => {
    // mana is made by the init script as a plain role (row-level security binds it), not as the
    // image's POSTGRES_USER, which is a superuser.
    expect(pg.environment).toMatchObject({ MANA_PASSWORD: 'devpassword' });
    expect(pg.environment?.POSTGRES_USER).not.toBe('mana');
    expect(pg.volumes).toContain('./ops/postgres/init-mana.sh:/docker-entrypoint-initdb.d/init-mana.sh:ro');
    const init = read('ops/postgres/init-mana.sh');
    expect(init).toMatch(/CREATE ROLE mana LOGIN NOSUPERUSER .*NOBYPASSRLS/);
    expect(init).toContain('CREATE DATABASE mana_sync OWNER mana');
    expect(pg.image).toMatch(/^postgres:15/);
    expect(pg.healthcheck?.test.join(' ')).toContain('pg_isready -U mana -d mana_sync');
    const url = new URL(sync.environment!.DATABASE_URL!);
    expect([url.username, url.password, url.hostname, url.port, url.pathname]).toEqual([
      'mana',
      'devpassword',
      'mana-postgres',
      '5432',
      '/mana_sync',
    ]);
    expect(sync.depends_on?.['mana-postgres']?.condition).toBe('service_healthy');
  });

  it('sets only real settings, which mana-sync accepts, and waits longer than the shutdown grace', () => {
    const known = new Set(Object.values(SETTINGS).map((s) => s.env));
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(sync.environment!)) {
      expect(known, name).toContain(name);
      // ${VAR:-default} as compose would expand it with VAR unset.
      env[name] = String(value).replace(/\$\{\w+:-([^}]*)\}/g, '$1');
    }
    const config = loadConfig({ ...env, NODE_ENV: 'production' });
    expect(config.databaseUrl).toBe(sync.environment!.DATABASE_URL);
    expect(config.serviceKey).toBeUndefined(); // unset by default: service auth off
    const grace = /^(\d+)s$/.exec(sync.stop_grace_period ?? '')?.[1];
    expect(Number(grace) * 1000).toBeGreaterThan(config.shutdownGraceMs);
    expect(sync.ports).toEqual([`${config.port}:${config.port}`]);
    expect(sync.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
  });
});

describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (line.startsWith('FROM ')) stages.push([]);
    stages.at(-1)?.push(line);
  }
  const runtime = stages.at(-1)!;

  it('is multi-stage: builds the JavaScript in one stage, installs production dependencies only in another, with no install scripts', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const install = lines.filter((l) => /\bnpm (ci|install)\b/.test(l));
    for (const l of install) expect(l).toContain('--ignore-scripts');
    expect(runtime.some((l) => /\bnpm (ci|install)\b/.test(l))).toBe(false);
    // The node_modules the runtime copies come from a stage that omits dev dependencies.
    const from = (path: string) =>
      /--from=(\w+)/.exec(
        runtime.find((l) => l.startsWith('COPY --from=') && l.includes(` /app/${path} `))!,
      )![1]!;
    const depsStage = stages.find((s) => s[0]!.endsWith(` AS ${from('node_modules')}`))!;
    expect(depsStage.find((l) => /\bnpm ci\b/.test(l))).toMatch(/npm ci .*--omit=dev/);
    // The server's build comes from a stage that compiles it (tsc -b).
    const buildStage = stages.find((s) => s[0]!.endsWith(` AS ${from('packages/server/dist')}`))!;
    expect(buildStage.some((l) => /\btsc -b packages\/server\b|npm run build/.test(l))).toBe(true);
    // Plain node runs the build: tsx is a dev tool, not a dependency of the server.
    const server = JSON.parse(read('packages/server/package.json'));
    expect(Object.keys(server.dependencies)).toContain('@mana/sync-protocol');
    expect(Object.keys(server.dependencies)).not.toContain('tsx');
    expect(server.imports['#cli'].default).toBe('./dist/cli.js');
  });

  it('runs the CLI as the unprivileged node user, on the default port, with a health check', () => {
    const user = runtime.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBe('USER node');
    const entry = runtime.find((l) => l.startsWith('ENTRYPOINT '))!;
    const bin = JSON.parse(entry.slice('ENTRYPOINT '.length)).at(-1);
    expect(existsSync(root(bin))).toBe(true);
    expect(runtime).toContain(`EXPOSE ${SETTINGS.port.default}`);
    expect(runtime.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('/health'))).toBe(true);
    // Everything the runtime copies exists in the repo, or is node_modules, or a package's build
    // (dist/ of a package with a tsconfig.json).
    for (const l of runtime.filter((x) => x.startsWith('COPY --from='))) {
      const src = l
        .split(/\s+/)
        .at(-2)!
        .replace(/^\/app\//, '');
      const build = /^(packages\/\w+)\/dist$/.exec(src);
      if (build) expect(existsSync(root(`${build[1]}/tsconfig.json`)), src).toBe(true);
      else if (src !== 'node_modules') expect(existsSync(root(src)), src).toBe(true);
    }
  });

  it('keeps node_modules, data, tests and docs out of the build context', () => {
    const ignore = read('.dockerignore').split('\n');
    for (const p of ['**/node_modules', '**/.mana-sync', '**/test', '.git', 'docs'])
      expect(ignore).toContain(p);
  });
});
