import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Change, formatMicros } from '@mana/sync-protocol';
import postgres from 'postgres';
import { postgresDb } from '../../packages/server/src/db/postgres.js';
import { sql } from '../../packages/server/src/db/sql.js';
import { createSyncStore } from '../../packages/server/src/store/sync-store.js';
import { type WrittenRecord, writeStatement } from '../../packages/server/src/store/write-statement.js';
import { BENCH_DATABASE_URL, freshSchema } from '../lib/databases.js';

/**
 * PostgreSQL's CPU per change for the parts of a push of `batch` new records, read from
 * the backend's /proc entry (this machine's PostgreSQL only), one connection, pushes in turn:
 *
 * - push: the store's push (lock, page, stored read, write, in one transaction);
 * - write: the write statement alone in a transaction (records and log rows);
 * - raw: the benchmark's baseline, one multi-row INSERT of the log rows (postgres.js, autocommit).
 *
 * push − write is what the reads cost; write − raw what keeping the merged records costs.
 *
 *   npx tsx --conditions=source bench/tools/database-parts.ts [rounds=4] [pushes=400] [batch=100]
 */
const [rounds = 4, pushes = 400, BATCH = 100] = process.argv.slice(2).map(Number);
if (!BENCH_DATABASE_URL) throw new Error('set TEST_DATABASE_URL or BENCH_DATABASE_URL');

const schema = await freshSchema(BENCH_DATABASE_URL, 'parts');
const db = postgresDb(schema.url, { schema: schema.schema, max: 1 });
const store = createSyncStore(db);
const raw = postgres(schema.url, { max: 1, connection: { search_path: schema.schema }, onnotice: () => {} });

/** CPU time of one PostgreSQL backend so far, in µs (utime + stime, 100 ticks a second). */
function backendCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

type Part = 'push' | 'write' | 'raw';
const since = new Map<string, string>();
let seq = 0;

/** One push of BATCH new todo-shaped records for one of 8 users, as `part` does it. */
async function once(part: Part): Promise<void> {
  const n = seq++;
  const userId = `user-${n % 8}`;
  const updatedAt = formatMicros(Date.now() * 1000);
  const values = (k: number) => ({ title: `Task ${n}.${k} for the benchmark`, done: false, priority: k % 5 });
  const ids = Array.from({ length: BATCH }, (_, k) => `r-${n}-${k}`);
  if (part === 'raw') {
    const rows = ids.map((id, k) => ({
      app_id: 'bench',
      table_name: 'todos',
      record_id: id,
      user_id: userId,
      op: 'insert',
      data: JSON.stringify(values(k)),
      field_timestamps: JSON.stringify({ title: updatedAt, done: updatedAt, priority: updatedAt }),
      client_id: 'c',
    }));
    await raw`INSERT INTO sync_changes ${raw(rows, 'app_id', 'table_name', 'record_id', 'user_id', 'op', 'data', 'field_timestamps', 'client_id')}`;
  } else if (part === 'write') {
    const written: WrittenRecord[] = ids.map((id, k) => ({
      table: 'todos',
      id,
      state: { data: values(k), fieldTimestamps: { title: updatedAt, done: updatedAt, priority: updatedAt } },
      who: { writer: 'c', writers: {}, actors: null },
      eventId: randomUUID(),
      createdUs: undefined,
      log: [{ op: 'insert', fields: {}, actor: null, schemaVersion: 1 }],
    }));
    await db.transaction((tx) =>
      tx.query(writeStatement(userId, 'bench', 'c', { baseUs: Date.now() * 1000 + n * BATCH }, written)),
    );
  } else {
    const changes: Change[] = ids.map((id, k) => ({
      table: 'todos',
      id,
      op: 'insert',
      fields: Object.fromEntries(Object.entries(values(k)).map(([f, value]) => [f, { value, updatedAt }])),
    }));
    const result = await store.push({
      userId,
      appId: 'bench',
      clientId: 'c',
      since: (since.get(userId) ?? '1970-01-01T00:00:00.000000Z') as never,
      changes,
      nowMicros: Date.now() * 1000,
      maxSkewMicros: 60_000_000,
      limit: 1000,
    });
    since.set(userId, result.syncedUntil);
  }
}

try {
  const pid = Number((await db.query<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`))[0]!.pid);
  const rawPid = Number((await raw`SELECT pg_backend_pid() AS pid`)[0]!.pid);
  const parts: Part[] = ['push', 'write', 'raw'];
  // Warm-up, and statistics: the store's keeper runs ANALYZE as records arrive.
  for (let i = 0; i < 600; i++) await once(parts[i % 3]!);
  await db.query(sql`ANALYZE sync_records`);
  const perChange: Record<Part, number[]> = { push: [], write: [], raw: [] };
  for (let r = 0; r < rounds; r++) {
    for (const part of r % 2 ? [...parts].reverse() : parts) {
      const backend = part === 'raw' ? rawPid : pid;
      const before = backendCpuUs(backend);
      for (let i = 0; i < pushes; i++) await once(part);
      perChange[part].push(Math.round(((backendCpuUs(backend) - before) / (pushes * BATCH)) * 10) / 10);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rows = parts.map((part) => ({
    part,
    postgresUsPerChange: median(perChange[part]),
    rounds: perChange[part].join(' '),
  }));
  console.log(JSON.stringify({ batch: BATCH, rows }));
  console.table(rows);
} finally {
  await store.close();
  await raw.end();
  await schema.drop();
}
