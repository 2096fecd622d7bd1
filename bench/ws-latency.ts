/**
 * WebSocket notification latency: how long after a push's response the other client's
 * socket hears `sync-available`. Sequential pushes (one in flight), so this is latency, not
 * throughput. Servers are real `mana-sync serve` processes on loopback.
 *
 *   npm run bench:ws-latency                      # 1,000 pushes per mode
 *   PUSHES=200 npm run bench:ws-latency -- --out bench/results/ws-latency.json
 *
 * Modes: `pglite` (one instance, in-process fan-out), `pg-same` (one instance on PostgreSQL:
 * still delivered in process) and `pg-cross` (push to instance A, socket on B: through
 * LISTEN/NOTIFY). The PostgreSQL modes need BENCH_DATABASE_URL or TEST_DATABASE_URL.
 *
 * Per push: t0 request sent, t1 response read, t2 notification received (timestamped in the
 * socket's message handler). Reported: t2 − t1 ("after response"; negative when the
 * notification arrived first, as it can on one instance) and t2 − t0 ("after request").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startServeProcess } from '../packages/server/test/cli/serve-process.js';
import { startAuthService } from '../packages/server/test/helpers/auth-service.js';
import { freshPgSchema } from '../packages/server/test/helpers/databases.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, modes: { type: 'string' } } });
const PUSHES = Number(process.env.PUSHES ?? 1000);
const WARMUP = 50;
/** Start-up of a server process (PGlite's first start is slow on a busy machine). */
const START_MS = 120_000;
const DB_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const MODES = (values.modes ?? 'pglite,pg-same,pg-cross').split(',');

interface Summary {
  mode: string;
  pushes: number;
  afterResponseMs: Stats;
  afterRequestMs: Stats;
  pushRoundTripMs: Stats;
}
interface Stats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: r(q(0.5)),
    p90: r(q(0.9)),
    p99: r(q(0.99)),
    max: r(s.at(-1)!),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

async function measure(mode: string, pushUrl: string, socketUrl: string, token: string): Promise<Summary> {
  const ws = new WebSocket(`${socketUrl.replace(/^http/, 'ws')}/ws`);
  let onNotify: ((at: number) => void) | undefined;
  const early: number[] = [];
  ws.on('message', (data) => {
    const at = performance.now();
    const msg = JSON.parse(String(data)) as { type: string };
    if (msg.type !== 'sync-available') return;
    if (onNotify) onNotify(at);
    else early.push(at);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token, clientId: 'listener' })));
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  const afterResponse: number[] = [];
  const afterRequest: number[] = [];
  const roundTrip: number[] = [];
  for (let i = 0; i < WARMUP + PUSHES; i++) {
    const notified = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode}: no notification for push ${i}`)), 10_000);
      const done = (at: number) => {
        clearTimeout(timer);
        onNotify = undefined;
        resolve(at);
      };
      const first = early.shift();
      if (first !== undefined) done(first);
      else onNotify = done;
    });
    const t0 = performance.now();
    const res = await fetch(`${pushUrl}/sync/bench`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'pusher',
        changes: [
          {
            table: 'tasks',
            id: `t${i}`,
            op: 'insert',
            fields: { n: { value: i, updatedAt: new Date().toISOString() } },
          },
        ],
      }),
    });
    await res.arrayBuffer();
    const t1 = performance.now();
    if (res.status !== 200) throw new Error(`${mode}: push answered ${res.status}`);
    const t2 = await notified;
    if (i >= WARMUP) {
      afterResponse.push(t2 - t1);
      afterRequest.push(t2 - t0);
      roundTrip.push(t1 - t0);
    }
  }
  ws.close();
  return {
    mode,
    pushes: PUSHES,
    afterResponseMs: stats(afterResponse),
    afterRequestMs: stats(afterRequest),
    pushRoundTripMs: stats(roundTrip),
  };
}

async function main() {
  const auth = await startAuthService();
  const token = await auth.mint('bench-user', { expiresIn: 3600 });
  const common = { JWKS_URL: auth.jwksUrl, RATE_LIMIT_RPS: '0', MANA_SYNC_DEV_AUTH: '0', LOG_LEVEL: 'warn' };
  const results: Summary[] = [];
  try {
    if (MODES.includes('pglite')) {
      const dir = mkdtempSync(join(tmpdir(), 'mana-ws-bench-'));
      const p = await startServeProcess(
        ['serve'],
        { ...common, DATABASE_URL: '', MANA_SYNC_DATA_DIR: dir },
        START_MS,
      );
      try {
        results.push(await measure('pglite', p.url, p.url, token));
      } finally {
        await p.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const pgModes = MODES.filter((m) => m.startsWith('pg-'));
    if (pgModes.length > 0 && !DB_URL) {
      process.stderr.write('skipping PostgreSQL modes: set BENCH_DATABASE_URL or TEST_DATABASE_URL\n');
    } else if (pgModes.length > 0) {
      process.env.TEST_DATABASE_URL = DB_URL;
      const db = await freshPgSchema();
      const env = { ...common, DATABASE_URL: DB_URL!, DATABASE_SCHEMA: db.options.schema! };
      const a = await startServeProcess(['serve'], env, START_MS);
      const b = await startServeProcess(['serve'], env, START_MS);
      try {
        if (MODES.includes('pg-same')) results.push(await measure('pg-same', a.url, a.url, token));
        if (MODES.includes('pg-cross')) results.push(await measure('pg-cross', a.url, b.url, token));
      } finally {
        await Promise.all([a.stop(), b.stop()]);
        await db.drop();
      }
    }
  } finally {
    await auth.close();
  }
  const report = {
    bench: 'ws-latency',
    at: new Date().toISOString(),
    pushes: PUSHES,
    warmup: WARMUP,
    results,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n`);
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const lines = [
    row(['mode', 'after response p50', 'p99', 'after request p50', 'p99', 'push RTT p50', 'p99']),
    row(Array(7).fill('---')),
    ...results.map((r) =>
      row([
        r.mode,
        ...[r.afterResponseMs, r.afterRequestMs, r.pushRoundTripMs].flatMap((s) => [
          `${s.p50} ms`,
          `${s.p99} ms`,
        ]),
      ]),
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
