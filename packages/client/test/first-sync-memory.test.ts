import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../../server/test/helpers/test-server.js';
import { startServer } from './helpers/harness.js';
import { seed } from './helpers/seed.js';

interface ChildResult {
  count: number;
  ms: number;
  perRecord: number;
  overhead: Array<{ records: number; bytes: number }>;
}

function runChild(env: Record<string, string>): Promise<ChildResult> {
  const script = fileURLToPath(new URL('./helpers/first-sync-child.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--conditions=source', '--import', 'tsx', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}: ${out}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult);
    });
  });
}

const N = Number(process.env.FIRST_SYNC_RECORDS ?? 100_000);

describe('a large first sync', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
    await seed(server, 'u-big', N);
  }, 120_000);
  afterAll(async () => {
    await server.close();
  });

  it(`pulls ${N} records page by page with the sync's memory flat between 10k and ${N}`, async () => {
    const result = await runChild({
      SYNC_URL: server.url,
      SYNC_TOKEN: await server.token('u-big'),
      EXPECT: String(N),
    });
    expect(result.count).toBe(N);
    const at10k = result.overhead.filter((s) => s.records >= 9_000 && s.records <= 11_000);
    const later = result.overhead.filter((s) => s.records > 11_000);
    expect(at10k.length).toBeGreaterThan(0);
    expect(later.length).toBeGreaterThan(0);
    const base = Math.max(...at10k.map((s) => s.bytes));
    const peak = Math.max(...later.map((s) => s.bytes));
    console.log(
      `first sync of ${N}: ${result.ms} ms; sync heap at 10k ${(base / 2 ** 20).toFixed(1)} MiB, ` +
        `peak 10k..${N} ${(peak / 2 ** 20).toFixed(1)} MiB; IndexedDB (fake) ${Math.round(result.perRecord)} B/record`,
    );
    // A client that held the pulled records (or their changes) in memory would grow by
    // ~100 MiB here; a paged one stays within noise of where it was at 10k.
    expect(peak - base).toBeLessThan(16 * 2 ** 20);
  }, 180_000);
});
