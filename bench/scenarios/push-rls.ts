import { randomBytes } from 'node:crypto';
import { postgresDb } from '../../packages/server/src/db/postgres.js';
import type { Db } from '../../packages/server/src/db/sql.js';
import { createSyncStore } from '../../packages/server/src/store/sync-store.js';
import { alternate } from '../lib/alternate.js';
import { type BenchSchema, roleSchema } from '../lib/databases.js';
import type { BenchOptions } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import { type ManaUnderTest, startMana } from '../lib/servers.js';
import type { HttpPushJob } from '../load/jobs.js';
import { assertClean, rate } from './push-ingest.js';

/**
 * What row-level security costs a push (store/migrations/0007, db/row-security.ts): the same
 * push load against two servers on PostgreSQL, in alternating slices of one load process.
 *
 *   with RLS     the production path: a role without SUPERUSER or BYPASSRLS, the policies
 *                forced, every statement in a transaction that first sets app.current_user_id
 *   without RLS  the same role on a schema whose policies are not forced (the owner skips
 *                them), and a store whose Db runs statements as before RLS: forUser() is the
 *                plain Db (autocommit statements, no setting, no policy)
 *
 * Both servers live in this process with PostgreSQL fan-out; only one is loaded at a time.
 * The ratio is with/without (1.0: free); RLS may cost at most 10 %.
 */
export async function pushRowSecurity(opts: BenchOptions, url: string, command: string): Promise<Figure[]> {
  const run = randomBytes(2).toString('hex');
  const schemas: BenchSchema[] = [];
  const servers: ManaUnderTest[] = [];
  try {
    const on = await roleSchema(url, `rlson${run}`);
    schemas.push(on);
    const off = await roleSchema(url, `rlsoff${run}`);
    schemas.push(off);
    servers.push(await startMana({ kind: 'postgres', url: on.url, schema: on.schema }));
    const plain = postgresDb(off.url, { schema: off.schema });
    await plain.exec(
      ['sync_records', 'sync_changes', 'sync_users']
        .map((t) => `ALTER TABLE ${t} NO FORCE ROW LEVEL SECURITY;`)
        .join('\n'),
    );
    servers.push(
      await startMana({
        kind: 'postgres',
        url: off.url,
        schema: off.schema,
        store: createSyncStore(withoutRowSecurity(plain)),
      }),
    );
    return await measure(opts, servers[0]!, servers[1]!, command);
  } finally {
    for (const s of servers) await s.close();
    for (const s of schemas) await s.drop().catch((err) => console.error(`could not drop ${s.schema}:`, err));
  }
}

/** The Db as the store used it before row-level security: no transaction, no setting. */
function withoutRowSecurity(db: Db): Db {
  return { ...db, forUser: () => db, maintenance: () => db };
}

async function measure(
  opts: BenchOptions,
  withRls: ManaUnderTest,
  withoutRls: ManaUnderTest,
  command: string,
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const run = randomBytes(3).toString('hex');
  const users = {
    many: Array.from({ length: opts.workers }, (_, i) => `rls-${run}-user-${i}`),
    heavy: [`rls-${run}-heavy`],
  };
  const tokens = async (server: ManaUnderTest, ids: string[]) => Promise.all(ids.map((u) => server.token(u)));
  const cursors = new Map<string, Array<string | undefined>>();
  for (const batch of opts.batches) {
    for (const mode of ['many', 'heavy'] as const) {
      if (mode === 'heavy' && !opts.heavyBatches.includes(batch)) continue;
      const job = async (server: ManaUnderTest, side: string): Promise<HttpPushJob> => ({
        kind: 'http-push',
        port: server.port,
        workers: opts.workers,
        appId: 'bench',
        tokens: await tokens(server, users[mode]),
        batch,
        trackCursor: true,
        cursors: cursors.get(`${side}-${mode}`),
        runId: `${run}-${side}-${mode}-${batch}`,
        warmupMs: opts.warmupMs,
        durationMs: opts.durationMs,
        maxRequests: opts.maxRequests,
      });
      const { pairs, cursors: after } = await alternate(
        opts,
        await job(withRls, 'on'),
        await job(withoutRls, 'off'),
      );
      cursors.set(`on-${mode}`, after[0] ?? []);
      cursors.set(`off-${mode}`, after[1] ?? []);
      const rounds: Round[] = pairs.map(({ a: on, b: off, aCpuUs, bCpuUs }) => {
        assertClean(on, `push with RLS ${mode} batch ${batch}`);
        assertClean(off, `push without RLS ${mode} batch ${batch}`);
        const value = rate(on);
        const baseline = rate(off);
        return {
          value,
          baseline,
          ratio: ratioOf(value, baseline, 'higher'),
          notes: {
            pushP50Ms: on.latency.p50,
            baselinePushP50Ms: off.latency.p50,
            // This process's CPU (the servers' JavaScript and driver) per change, each side.
            serverCpuUsPerChange: Math.round((aCpuUs / batch) * 10) / 10,
            baselineServerCpuUsPerChange: Math.round((bCpuUs / batch) * 10) / 10,
          },
        };
      });
      figures.push(
        summarize(
          {
            id: `pg.push-rls.${mode}.b${batch}`,
            figure: `PostgreSQL push with row-level security, ${mode === 'many' ? `${opts.workers} users` : '1 heavy user'}, batch ${batch}`,
            unit: 'changes/s',
            baselineLabel: 'the same push without row-level security',
            target: 'ratio >= 0.9',
            command,
          },
          rounds,
          (f) => f.ratio >= 0.9,
        ),
      );
    }
  }
  return figures;
}
