import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { postgresDb } from '../../packages/server/src/db/postgres.js';
import { sql as q } from '../../packages/server/src/db/sql.js';
import { createSyncStore } from '../../packages/server/src/store/sync-store.js';
import { statCpuUs } from '../lib/cpu.js';
import { BENCH_DATABASE_URL, freshSchema } from '../lib/databases.js';

/**
 * Where a push's CPU goes: PostgreSQL backend CPU and this process's CPU per change, for
 * `store.push` (no HTTP) against the raw multi-row INSERT baseline, one connection each,
 * sequential, alternating. Reads the backend's utime+stime from /proc (same machine only).
 *
 *   npx tsx --conditions=source bench/tools/cpu-split.ts [batch=100] [batches=200] [rounds=3]
 */
const [batch = 100, batches = 200, rounds = 3] = process.argv.slice(2).map(Number);
function backendCpuMs(pid: number): number {
  return statCpuUs(readFileSync(`/proc/${pid}/stat`, 'utf8')).own / 1000;
}

async function measure(pid: number, n: number, run: (i: number) => Promise<void>) {
  const pg0 = backendCpuMs(pid);
  const js0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run(i);
  const wall = performance.now() - t0;
  const js = process.cpuUsage(js0);
  const changes = n * batch;
  return {
    pgUsPerChange: ((backendCpuMs(pid) - pg0) * 1000) / changes,
    jsUsPerChange: (js.user + js.system) / changes,
    wallUsPerChange: (wall * 1000) / changes,
  };
}

async function main() {
  if (!BENCH_DATABASE_URL) throw new Error('set TEST_DATABASE_URL or BENCH_DATABASE_URL');
  const s = await freshSchema(BENCH_DATABASE_URL, 'cpusplit');
  const raw = postgres(s.url, { max: 1, onnotice: () => {}, connection: { search_path: s.schema } });
  const db = postgresDb(s.url, { schema: s.schema, max: 1 });
  const store = createSyncStore(db);
  try {
    const rawPid = Number((await raw`SELECT pg_backend_pid() AS p`)[0]!.p);
    const storePid = Number((await db.query<{ p: number }>(q`SELECT pg_backend_pid() AS p`))[0]!.p);
    let seq = 0;
    const now = () => new Date().toISOString();
    const rawBatch = async () => {
      const ts = now();
      const id = seq++;
      const rows = [];
      for (let k = 0; k < batch; k++)
        rows.push({
          app_id: 'bench',
          table_name: 'todos',
          record_id: `r-${id}-${k}`,
          user_id: `u-${id % 8}`,
          op: 'insert',
          data: JSON.stringify({ title: `Task ${id}.${k} for the benchmark`, done: false, priority: k % 5 }),
          field_timestamps: JSON.stringify({ title: ts, done: ts, priority: ts }),
          client_id: 'bench',
        });
      await raw`INSERT INTO sync_changes ${raw(rows, 'app_id', 'table_name', 'record_id', 'user_id', 'op', 'data', 'field_timestamps', 'client_id')}`;
    };
    const since = new Map<string, string>();
    const pushBatch = async () => {
      const ts = now();
      const id = seq++;
      const userId = `u-${id % 8}`;
      const changes = [];
      for (let k = 0; k < batch; k++)
        changes.push({
          table: 'todos',
          id: `p-${id}-${k}`,
          op: 'insert' as const,
          fields: {
            title: { value: `Task ${id}.${k} for the benchmark`, updatedAt: ts },
            done: { value: false, updatedAt: ts },
            priority: { value: k % 5, updatedAt: ts },
          },
        });
      const res = await store.push({
        userId,
        appId: 'bench',
        clientId: 'bench',
        since: (since.get(userId) ?? '1970-01-01T00:00:00.000000Z') as never,
        changes: changes as never,
        nowMicros: Date.parse(ts) * 1000,
        maxSkewMicros: 60_000_000,
        limit: 1000,
      });
      since.set(userId, res.syncedUntil);
    };
    await measure(rawPid, 20, rawBatch);
    await measure(storePid, 20, pushBatch);
    const table: Array<Record<string, string | number>> = [];
    for (let r = 0; r < rounds; r++) {
      const a = await measure(rawPid, batches, rawBatch);
      const b = await measure(storePid, batches, pushBatch);
      table.push({ round: r, kind: 'raw', ...fmt(a) }, { round: r, kind: 'push', ...fmt(b) });
    }
    const med = (kind: string, k: string) => {
      const xs = table
        .filter((r) => r.kind === kind)
        .map((r) => Number(r[k]))
        .sort((a, b) => a - b);
      return xs[Math.floor(xs.length / 2)]!;
    };
    const summary = {
      rawPgUs: med('raw', 'pgUsPerChange'),
      pushPgUs: med('push', 'pgUsPerChange'),
      rawJsUs: med('raw', 'jsUsPerChange'),
      pushJsUs: med('push', 'jsUsPerChange'),
    };
    console.log(JSON.stringify({ batch, batches, summary, rounds: table }));
    console.table(table);
    console.table([summary]);
  } finally {
    await raw.end();
    await store.close();
    if (!process.env.KEEP) await s.drop();
    else console.log(`kept schema ${s.schema}`);
  }
}

function fmt(m: Record<string, number>) {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

await main();
