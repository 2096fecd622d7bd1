import { parseArgs } from 'node:util';

export const GROUPS = [
  'request',
  'push',
  'pull',
  'pglite',
  'ws',
  'rls',
  'abuse',
  'footprint',
  'client',
] as const;
export type Group = (typeof GROUPS)[number];
export const ABUSE_PARTS = ['big-pulls', 'held-uploads', 'empty-pushes'] as const;
export type AbusePart = (typeof ABUSE_PARTS)[number];
export const ABUSE_STORES = ['pg', 'pglite'] as const;
export type AbuseStore = (typeof ABUSE_STORES)[number];

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
  /**
   * The abuse group's parts and stores to run (--part, --store; default all): one part on one
   * store is a minute, the whole group six, for iterating on one of them.
   */
  abuseParts: AbusePart[];
  abuseStores: AbuseStore[];
  /** The command line that reproduces this run. */
  command: string;
}

/** The command that reproduces one group's figures. */
export function commandFor(opts: BenchOptions, group: Group): string {
  const parts =
    group === 'abuse'
      ? `${opts.abuseParts.length < ABUSE_PARTS.length ? ` --part ${opts.abuseParts.join(',')}` : ''}${
          opts.abuseStores.length < ABUSE_STORES.length ? ` --store ${opts.abuseStores.join(',')}` : ''
        }`
      : '';
  return `npm run bench -- ${opts.quick ? '--quick ' : ''}--only ${group}${parts}`;
}

/** A comma-separated subset of `all` (all when absent). */
function listOf<T extends string>(flag: string, value: string | undefined, all: readonly T[]): T[] {
  if (value === undefined) return [...all];
  const picked = value.split(',') as T[];
  for (const v of picked) if (!all.includes(v)) throw new Error(`${flag}: unknown ${v} (${all.join(', ')})`);
  return picked;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
      part: { type: 'string' },
      store: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  // `abuse` only on request (--only abuse): six minutes of deliberate overload, and the quick
  // run (CI smoke) has a 3-minute budget. `footprint` too: it builds, and starts ~10 processes a round.
  const ON_REQUEST: Group[] = ['abuse', 'footprint', 'client'];
  const groups = values.only
    ? (values.only.split(',') as Group[])
    : GROUPS.filter((g) => !ON_REQUEST.includes(g));
  for (const g of groups)
    if (!GROUPS.includes(g)) throw new Error(`--only: unknown group ${g} (${GROUPS.join(', ')})`);
  const abuseParts = listOf('--part', values.part, ABUSE_PARTS);
  const abuseStores = listOf('--store', values.store, ABUSE_STORES);
  const rounds = values.rounds ? Number(values.rounds) : quick ? 1 : 3;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) throw new Error('--rounds: 1 to 9');
  const flags = [
    quick ? '--quick' : '',
    values.only ? `--only ${values.only}` : '',
    values.rounds ? `--rounds ${rounds}` : '',
    values.part ? `--part ${values.part}` : '',
    values.store ? `--store ${values.store}` : '',
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
    abuseParts,
    abuseStores,
    command: `npm run bench${flags ? ` -- ${flags}` : ''}`,
  };
}
