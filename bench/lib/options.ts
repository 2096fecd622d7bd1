import { parseArgs } from 'node:util';

export const GROUPS = ['request', 'push', 'pull', 'pglite', 'ws', 'rls', 'abuse', 'client'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  warmupMs: number;
  durationMs: number;
  /** Cap on measured requests per load job. */
  maxRequests: number;
  /** Concurrent connections of a load process. */
  workers: number;
  batches: number[];
  /** Batches measured for one heavy user too, and on PGlite (quick mode keeps it short). */
  heavyBatches: number[];
  pgliteBatches: number[];
  /** Initial sync sizes: small (the flat-memory reference) and large. */
  pullSizes: [number, number];
  /** WebSocket sockets: the latency and first memory figure, then the large memory figure. */
  wsSizes: [number, number];
  wsPushes: number;
  wsRounds: number;
  groups: Group[];
  /** The command line that reproduces this run. */
  command: string;
}

/** The command that reproduces one group's figures. */
export function commandFor(opts: BenchOptions, group: Group): string {
  return `npm run bench -- ${opts.quick ? '--quick ' : ''}--only ${group}`;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  // `abuse` and `client` only on request (--only abuse, --only client): minutes each (six of
  // deliberate overload; two browsers' worth of devices), and the quick run (CI smoke) has a
  // 3-minute budget.
  const groups = values.only
    ? (values.only.split(',') as Group[])
    : GROUPS.filter((g) => g !== 'abuse' && g !== 'client');
  for (const g of groups)
    if (!GROUPS.includes(g)) throw new Error(`--only: unknown group ${g} (${GROUPS.join(', ')})`);
  const rounds = values.rounds ? Number(values.rounds) : quick ? 1 : 3;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) throw new Error('--rounds: 1 to 9');
  const flags = [
    quick ? '--quick' : '',
    values.only ? `--only ${values.only}` : '',
    values.rounds ? `--rounds ${rounds}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return {
    quick,
    rounds,
    warmupMs: quick ? 200 : 1000,
    durationMs: quick ? 700 : 3000,
    maxRequests: quick ? 5000 : 50_000,
    workers: 8,
    batches: [10, 100, 1000],
    heavyBatches: quick ? [100] : [10, 100, 1000],
    pgliteBatches: quick ? [100] : [10, 100, 1000],
    pullSizes: quick ? [1000, 5000] : [10_000, 100_000],
    wsSizes: quick ? [500, 1000] : [1000, 10_000],
    wsPushes: quick ? 50 : 500,
    wsRounds: Math.min(rounds, 2),
    groups,
    command: `npm run bench${flags ? ` -- ${flags}` : ''}`,
  };
}
