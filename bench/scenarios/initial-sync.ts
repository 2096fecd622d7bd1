import { randomBytes } from 'node:crypto';
import { type BenchSchema, seedRecords } from '../lib/databases.js';
import { runJob } from '../lib/fork-job.js';
import { type BenchOptions, commandFor } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import { startServerProcess } from '../lib/server-process.js';
import type { PullResult } from '../load/jobs.js';

const PAGE = 1000;

/**
 * Initial sync: one client pulls all N records of one user, page by page (limit 1000, the
 * default), parsing every page. Baseline: the same pages read with postgres.js straight from
 * sync_records (keyset on updated_at). Each pull is served by a fresh server process, whose
 * peak RSS (the kernel's maxRSS) must not grow with N: pages are bounded, nothing accumulates.
 */
export async function initialSync(opts: BenchOptions, schema: BenchSchema): Promise<Figure[]> {
  const run = randomBytes(3).toString('hex');
  const [small, large] = opts.pullSizes;
  const time: Record<number, Round[]> = { [small]: [], [large]: [] };
  const rss: Round[] = [];
  const users: Record<number, string> = {};
  for (const n of [small, large]) {
    users[n] = `pull-${run}-${n}`;
    await seedRecords(schema, users[n]!, 'bench', n);
  }
  const maxMs = 120_000;
  for (let r = 0; r < opts.rounds; r++) {
    const peak: Record<number, number> = {};
    for (const n of [small, large]) {
      const base = await runJob<PullResult>(
        {
          kind: 'pg-pull',
          url: schema.url,
          schema: schema.schema,
          userId: users[n]!,
          appId: 'bench',
          table: 'todos',
          pageSize: PAGE,
          expected: n,
          maxMs,
        },
        maxMs,
      );
      const server = await startServerProcess(schema, users[n]!, maxMs * 2);
      let pulled: PullResult;
      try {
        pulled = await runJob<PullResult>(
          {
            kind: 'pull',
            port: server.port,
            token: server.token,
            appId: 'bench',
            table: 'todos',
            pageSize: PAGE,
            expected: n,
            maxMs,
          },
          maxMs,
        );
      } finally {
        peak[n] = (await server.stop()).maxRssMb;
      }
      const value = pulled.elapsedMs / 1000;
      const baseline = base.elapsedMs / 1000;
      time[n]!.push({
        value,
        baseline,
        ratio: ratioOf(value, baseline, 'lower'),
        notes: { pages: pulled.pages },
      });
    }
    rss.push({
      value: peak[large]!,
      baseline: peak[small]!,
      ratio: ratioOf(peak[large]!, peak[small]!, 'lower'),
    });
  }
  const command = commandFor(opts, 'pull');
  const label = 'postgres.js keyset pages';
  return [
    summarize(
      {
        id: `pull.${small}`,
        figure: `initial sync, ${small.toLocaleString('en-US')} records, pages of ${PAGE}`,
        unit: 's',
        baselineLabel: label,
        command,
      },
      time[small]!,
    ),
    summarize(
      {
        id: `pull.${large}`,
        figure: `initial sync, ${large.toLocaleString('en-US')} records, pages of ${PAGE}`,
        unit: 's',
        baselineLabel: label,
        ...(large >= 100_000 ? { target: 'value <= 5 s' } : {}),
        command,
      },
      time[large]!,
      large >= 100_000 ? (f) => f.value <= 5 : undefined,
    ),
    summarize(
      {
        id: 'pull.rss',
        figure: `server peak RSS (fresh process) pulling ${large.toLocaleString('en-US')} records`,
        unit: 'MB',
        baselineLabel: `same, ${small.toLocaleString('en-US')} records`,
        target: 'ratio >= 0.8 (flat)',
        command,
      },
      rss,
      (f) => f.ratio >= 0.8,
    ),
  ];
}
