import { randomBytes } from 'node:crypto';
import { alternate } from '../lib/alternate.js';
import { pinServerSide, unpin } from '../lib/cpu.js';
import { runJob } from '../lib/fork-job.js';
import { type BenchOptions, commandFor } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import { startEchoServer, startMana } from '../lib/servers.js';
import { smallPushJob } from '../lib/small-push.js';
import { median } from '../lib/stats.js';
import type { HttpPushJob, LoadResult } from '../load/jobs.js';
import { assertClean, rate } from './push-ingest.js';

/**
 * Small pushes (one change, three fields), closed loop, `workers` connections:
 *   - the request path without the database (mana-sync with a store that answers at once)
 *     against a bare node:http server that parses the same JSON and answers the same JSON,
 *     driven by the same bytes from the same load process, in alternating slices
 *     (lib/alternate.ts): each pair of adjacent slices, one on each server, is a round;
 *   - optionally the same small push on PostgreSQL, against the same echo (what the
 *     database adds to one request).
 * On Linux with 2+ cores the server side (this process) is pinned to core 0 and the load
 * processes to core 1 (lib/cpu.ts). The server's CPU time per request is reported too: the
 * figure least moved by whatever else the machine is doing.
 */
export async function requestPath(
  opts: BenchOptions,
  pg?: { port: number; token(userId: string): Promise<string> },
): Promise<Figure[]> {
  const mana = await startMana({ kind: 'no-database' });
  const echo = await startEchoServer();
  const pin = pinServerSide();
  const load = pin ? { cpu: pin.loadCpu } : {};
  const run = randomBytes(3).toString('hex');
  const timeout = opts.warmupMs + opts.durationMs + 60_000;
  try {
    const tokens = await Promise.all(
      Array.from({ length: opts.workers }, (_, i) => mana.token(`req-${run}-user-${i}`)),
    );
    const pgTokens = pg
      ? await Promise.all(Array.from({ length: opts.workers }, (_, i) => pg.token(`req-${run}-user-${i}`)))
      : [];

    const small = (port: number) =>
      smallPushJob(
        port,
        tokens,
        `${run}-small-${port}`,
        { warmupMs: 0, durationMs: 0, maxRequests: 0 },
        opts.workers,
      );
    const { pairs } = await alternate(opts, small(echo.port), small(mana.port), load);

    const rps: Round[] = [];
    const p50: Round[] = [];
    const p99: Round[] = [];
    const cpu: Round[] = [];
    for (const { a: base, b: app, aCpuUs: baseCpu, bCpuUs: appCpu } of pairs) {
      assertClean(base, 'echo');
      assertClean(app, 'no-database push');
      cpu.push({ value: appCpu / 1000, baseline: baseCpu / 1000, ratio: ratioOf(appCpu, baseCpu, 'lower') });
      // One change per push: changes/s is requests/s.
      rps.push({ value: rate(app), baseline: rate(base), ratio: ratioOf(rate(app), rate(base), 'higher') });
      p50.push({
        value: app.latency.p50,
        baseline: base.latency.p50,
        ratio: ratioOf(app.latency.p50, base.latency.p50, 'lower'),
      });
      p99.push({
        value: app.latency.p99,
        baseline: base.latency.p99,
        ratio: ratioOf(app.latency.p99, base.latency.p99, 'lower'),
      });
    }

    const db: Round[] = [];
    if (pg) {
      const echoRate = median(rps.map((r) => r.baseline));
      let cursors: Array<string | undefined> = [];
      for (let r = 0; r < opts.rounds; r++) {
        const job: HttpPushJob = {
          kind: 'http-push',
          port: pg.port,
          workers: opts.workers,
          appId: 'bench',
          tokens: pgTokens,
          batch: 1,
          // The same users each round: their cursors carry over (see HttpPushJob.cursors).
          trackCursor: true,
          cursors,
          runId: `${run}-small-pg-${r}`,
          warmupMs: opts.warmupMs,
          durationMs: opts.durationMs,
          maxRequests: opts.maxRequests,
        };
        const real = await runJob<LoadResult>(job, timeout, load);
        assertClean(real, 'small push on PostgreSQL');
        cursors = real.cursors ?? [];
        db.push({
          value: rate(real),
          baseline: echoRate,
          ratio: ratioOf(rate(real), echoRate, 'higher'),
          notes: { p50Ms: real.latency.p50, p99Ms: real.latency.p99 },
        });
      }
    }
    const command = commandFor(opts, 'request');
    const label = 'node:http JSON echo';
    const figures = [
      summarize(
        {
          id: 'request.rps',
          figure: `small push, request path without database, ${opts.workers} conns`,
          unit: 'req/s',
          baselineLabel: label,
          target: 'ratio >= 0.7',
          command,
        },
        rps,
        (f) => f.ratio >= 0.7,
      ),
      summarize(
        {
          id: 'request.cpu',
          figure: 'server CPU per small push, without database',
          unit: 'ms',
          baselineLabel: label,
          command,
        },
        cpu,
      ),
      summarize(
        {
          id: 'request.p50',
          figure: 'small push p50 latency, without database',
          unit: 'ms',
          baselineLabel: label,
          command,
        },
        p50,
      ),
      summarize(
        {
          id: 'request.p99',
          figure: 'small push p99 latency, without database',
          unit: 'ms',
          baselineLabel: label,
          command,
        },
        p99,
      ),
    ];
    if (pg) {
      figures.push(
        summarize(
          {
            id: 'request.pg.rps',
            figure: `small push on PostgreSQL, ${opts.workers} users`,
            unit: 'req/s',
            baselineLabel: label,
            command,
          },
          db,
        ),
      );
    }
    return figures;
  } finally {
    if (pin) unpin();
    await mana.close();
    await echo.close();
  }
}
