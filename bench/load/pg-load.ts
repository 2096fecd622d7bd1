import postgres from 'postgres';
import { closedLoop, type OpenLoad } from './closed-loop.js';
import type { LoadResult, PgInsertJob, PgPullJob, PullResult } from './jobs.js';

/**
 * The database baselines, with the server's own driver (postgres.js, prepared statements):
 * what PostgreSQL does with the same rows when nothing else is in the way.
 */

function connect(url: string, schema: string, max: number) {
  return postgres(url, { max, onnotice: () => {}, connection: { search_path: schema } });
}

/** One multi-row INSERT of `batch` seed-shaped sync_changes rows per round trip, autocommit. */
export async function openPgInsert(job: PgInsertJob): Promise<OpenLoad> {
  const sql = connect(job.url, job.schema, job.workers);
  const seqs = new Array<number>(job.workers).fill(0);
  await sql`SELECT 1`;
  return {
    async step(w) {
      const seq = seqs[w]!;
      seqs[w] = seq + 1;
      const updatedAt = new Date().toISOString();
      const rows = [];
      for (let k = 0; k < job.batch; k++) {
        rows.push({
          app_id: 'bench',
          table_name: 'todos',
          record_id: `${job.runId}-${w}-${seq}-${k}`,
          user_id: `raw-user-${(w + seq) % job.users}`,
          op: 'insert',
          data: JSON.stringify({ title: `Task ${seq}.${k} for the benchmark`, done: false, priority: k % 5 }),
          field_timestamps: JSON.stringify({ title: updatedAt, done: updatedAt, priority: updatedAt }),
          client_id: `bench-${w}`,
        });
      }
      await sql`INSERT INTO sync_changes ${sql(rows, 'app_id', 'table_name', 'record_id', 'user_id', 'op', 'data', 'field_timestamps', 'client_id')}`;
      return job.batch;
    },
    cursors: () => undefined,
    close: () => sql.end({ timeout: 5 }),
  };
}

export async function runPgInsert(job: PgInsertJob): Promise<LoadResult> {
  const load = await openPgInsert(job);
  try {
    return await closedLoop(job.workers, job, (w) => load.step(w));
  } finally {
    await load.close();
  }
}

/** Keyset pages of one user's records, oldest first, decoded by the driver (jsonb → objects). */
export async function runPgPull(job: PgPullJob): Promise<PullResult> {
  const sql = connect(job.url, job.schema, 1);
  try {
    await sql`SELECT 1`;
    const started = performance.now();
    let since = '1970-01-01T00:00:00Z';
    let records = 0;
    let pages = 0;
    for (;;) {
      if (performance.now() - started > job.maxMs) throw new Error(`pg pull took over ${job.maxMs} ms`);
      const rows = await sql<Array<{ position: string }>>`
        SELECT table_name, record_id, data, field_timestamps, updated_at::text AS position
        FROM sync_records
        WHERE user_id = ${job.userId} AND app_id = ${job.appId} AND table_name = ${job.table}
          AND updated_at > ${since}::timestamptz
        ORDER BY updated_at LIMIT ${job.pageSize}`;
      pages++;
      records += rows.length;
      if (rows.length < job.pageSize) break;
      since = rows.at(-1)!.position;
    }
    if (records !== job.expected)
      throw new Error(`pg pull read ${records} records, expected ${job.expected}`);
    return { records, pages, elapsedMs: performance.now() - started };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
