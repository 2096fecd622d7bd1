import { migratedPglite } from '../lib/databases.js';
import { type BenchOptions, commandFor } from '../lib/options.js';
import type { Figure } from '../lib/report.js';
import { startMana } from '../lib/servers.js';
import { latencyOf } from '../lib/stats.js';
import type { LoadResult } from '../load/jobs.js';
import { pushIngest } from './push-ingest.js';

/**
 * The push figures on embedded PGlite. PGlite lives inside the server process, so its raw
 * baseline cannot come from another process: it is the same multi-row INSERT of seed-shaped
 * rows, run in this process on a second in-memory PGlite, one statement at a time (PGlite
 * is one connection). The push figure therefore also pays for HTTP; the baseline does not.
 */
export async function pgliteIngest(opts: BenchOptions): Promise<Figure[]> {
  const mana = await startMana({ kind: 'pglite' });
  const raw = await migratedPglite();
  let seq = 0;
  try {
    return await pushIngest(opts, {
      port: mana.port,
      token: mana.token,
      baselineLabel: 'PGlite raw multi-row INSERT',
      label: 'PGlite',
      idPrefix: 'pglite',
      command: commandFor(opts, 'pglite'),
      baseline: {
        inProcess: async (batch, users) => {
          const start = performance.now();
          const measureFrom = start + opts.warmupMs;
          const stopAt = measureFrom + opts.durationMs;
          const samples: number[] = [];
          let units = 0;
          let total = 0;
          while (
            performance.now() < stopAt &&
            (opts.maxRequests === 0 || samples.length < opts.maxRequests)
          ) {
            const t0 = performance.now();
            await insertBatch(raw, batch, users, seq++);
            const t1 = performance.now();
            total++;
            if (t1 >= measureFrom) {
              samples.push(t1 - t0);
              units += batch;
            }
          }
          const elapsedMs = Math.min(stopAt, performance.now()) - measureFrom;
          return {
            units,
            requests: samples.length,
            total,
            elapsedMs,
            latency: latencyOf(samples),
            errors: 0,
          } satisfies LoadResult;
        },
      },
    });
  } finally {
    await raw.close();
    await mana.close();
  }
}

async function insertBatch(
  db: Awaited<ReturnType<typeof migratedPglite>>,
  batch: number,
  users: number,
  seq: number,
) {
  const updatedAt = new Date().toISOString();
  const values: Array<string | number | boolean | null> = [];
  const tuples: string[] = [];
  for (let k = 0; k < batch; k++) {
    const n = values.length;
    tuples.push(
      `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}::jsonb, $${n + 7}::jsonb, $${n + 8})`,
    );
    values.push(
      'bench',
      'todos',
      `raw-${seq}-${k}`,
      `raw-user-${seq % users}`,
      'insert',
      JSON.stringify({ title: `Task ${seq}.${k} for the benchmark`, done: false, priority: k % 5 }),
      JSON.stringify({ title: updatedAt, done: updatedAt, priority: updatedAt }),
      'bench-0',
    );
  }
  // Built from placeholders only: the values travel as parameters, never in the text.
  await db.query({
    text: `INSERT INTO sync_changes (app_id, table_name, record_id, user_id, op, data, field_timestamps, client_id) VALUES ${tuples.join(', ')}`,
    values,
  });
}
