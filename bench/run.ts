import { randomBytes } from 'node:crypto';
import { BENCH_DATABASE_URL, type BenchSchema, freshSchema } from './lib/databases.js';
import { type BenchOptions, commandFor, parseOptions } from './lib/options.js';
import { type Figure, printTable, writeResults } from './lib/report.js';
import { type ManaUnderTest, startMana } from './lib/servers.js';
import { abuse } from './scenarios/abuse.js';
import { clientGroup } from './scenarios/client.js';
import { footprint } from './scenarios/footprint.js';
import { initialSync } from './scenarios/initial-sync.js';
import { pgliteIngest } from './scenarios/pglite.js';
import { pushIngest } from './scenarios/push-ingest.js';
import { pushRowSecurity } from './scenarios/push-rls.js';
import { requestPath } from './scenarios/request-path.js';
import { websocket } from './scenarios/websocket.js';

/**
 * `npm run bench [-- --quick] [--only request,push,pull,pglite,ws,rls,abuse,footprint,client] [--rounds N]
 *   [--part big-pulls,held-uploads,empty-pushes] [--store pg,pglite]` (the last two: abuse only)
 *
 * Servers run in this process (startServer(), loopback, dev auth, no rate limit, silent
 * log); load comes from forked load processes (bench/load), bounded in count and time.
 * Each figure is measured next to its baseline in the same run, `rounds` times; the table
 * shows medians. Results: bench/results/<timestamp>.json.
 */

async function main(opts: BenchOptions): Promise<Figure[]> {
  const figures: Figure[] = [];
  const wants = (g: BenchOptions['groups'][number]) => opts.groups.includes(g);
  const needsPg = wants('request') || wants('push') || wants('pull') || wants('ws') || wants('rls');
  const schemas: BenchSchema[] = [];
  let pgServer: ManaUnderTest | undefined;
  try {
    if (needsPg && !BENCH_DATABASE_URL) {
      console.warn('BENCH_DATABASE_URL / TEST_DATABASE_URL unset: PostgreSQL figures skipped');
    }
    if (needsPg && BENCH_DATABASE_URL) {
      const run = randomBytes(2).toString('hex');
      const serverSchema = await freshSchema(BENCH_DATABASE_URL, `srv${run}`);
      schemas.push(serverSchema);
      pgServer = await startMana({ kind: 'postgres', url: serverSchema.url, schema: serverSchema.schema });
      if (wants('pull')) figures.push(...(await initialSync(opts, serverSchema)));
      if (wants('ws')) figures.push(...(await websocket(opts, serverSchema)));
      if (wants('request')) figures.push(...(await requestPath(opts, pgServer)));
      if (wants('push')) {
        const rawSchema = await freshSchema(BENCH_DATABASE_URL, `raw${run}`);
        schemas.push(rawSchema);
        figures.push(
          ...(await pushIngest(opts, {
            port: pgServer.port,
            token: pgServer.token,
            baselineLabel: 'postgres.js raw multi-row INSERT',
            label: 'PostgreSQL',
            idPrefix: 'pg',
            command: commandFor(opts, 'push'),
            baseline: {
              job: (batch, users) => ({
                kind: 'pg-insert',
                url: rawSchema.url,
                schema: rawSchema.schema,
                workers: opts.workers,
                batch,
                users,
                runId: randomBytes(3).toString('hex'),
                warmupMs: opts.warmupMs,
                durationMs: opts.durationMs,
                maxRequests: opts.maxRequests,
              }),
            },
          })),
        );
      }
      if (wants('rls'))
        figures.push(...(await pushRowSecurity(opts, BENCH_DATABASE_URL, commandFor(opts, 'rls'))));
    } else if (wants('request')) {
      figures.push(...(await requestPath(opts)));
    }
    if (wants('pglite')) figures.push(...(await pgliteIngest(opts)));
    // Its own schema and server process (RSS is sampled from outside), after the others.
    if (wants('abuse') && !BENCH_DATABASE_URL)
      console.warn('BENCH_DATABASE_URL unset: PostgreSQL abuse figures skipped');
    if (wants('abuse')) figures.push(...(await abuse(opts, BENCH_DATABASE_URL, commandFor(opts, 'abuse'))));
    if (wants('footprint'))
      figures.push(...(await footprint(opts, BENCH_DATABASE_URL, commandFor(opts, 'footprint'))));
    if (wants('client')) figures.push(...(await clientGroup(opts)));
  } finally {
    await pgServer?.close();
    for (const s of schemas) await s.drop().catch((err) => console.error(`could not drop ${s.schema}:`, err));
  }
  return figures;
}

const opts = parseOptions(process.argv.slice(2));
const started = Date.now();
// The whole run is bounded too: a hung server cannot keep it (or CI) waiting.
const deadline = setTimeout(
  () => {
    console.error('bench: run exceeded its time budget; exiting');
    process.exit(2);
  },
  opts.quick ? 180_000 : 1_800_000,
);
deadline.unref();

main(opts).then(
  (figures) => {
    printTable(figures);
    const file = writeResults(figures, {
      command: opts.command,
      quick: opts.quick,
      rounds: opts.rounds,
      startedAt: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
    });
    console.log(`\n${figures.length} figures in ${Math.round((Date.now() - started) / 1000)} s -> ${file}`);
    process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
