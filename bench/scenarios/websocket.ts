import { fileURLToPath } from 'node:url';
import type { BenchSchema } from '../lib/databases.js';
import { forkIpc, type IpcProcess } from '../lib/ipc-process.js';
import { type BenchOptions, commandFor } from '../lib/options.js';
import { type Figure, type Round, ratioOf, summarize } from '../lib/report.js';
import type { Latency } from '../lib/stats.js';

const SERVER = fileURLToPath(new URL('../lib/ws-server-main.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('../load/ws-client-main.ts', import.meta.url));
/** Sockets per user (the hub allows 20 per user and instance). */
const PER_USER = 10;

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}
interface Phase {
  /** Bytes per socket: RSS, and JS heap + external (both after a full GC). */
  rssPerSocket: number;
  heapPerSocket: number;
}
interface Run {
  small: Phase;
  large: Phase;
  latency: Latency;
  afterResponse: Latency;
  missed: number;
}

/**
 * WebSockets, each in fresh processes (a server process, a client process):
 *   memory per idle authenticated socket: server RSS after GC with `small` sockets open,
 *     minus before any (per socket); then the marginal cost of going from `small` to `large`;
 *   push → notification: with `small` sockets open (10 per user), one push at a time, the
 *     time from sending the push to each socket of that user receiving sync-available.
 * Baseline: node:http + a bare `ws` server in the same processes, same client, same
 * sequence: auth answered without verification, a POST sends the note to the user's sockets.
 */
export async function websocket(opts: BenchOptions, schema: BenchSchema): Promise<Figure[]> {
  const [small, large] = opts.wsSizes;
  const rounds: Array<{ mana: Run; bare: Run }> = [];
  for (let r = 0; r < opts.wsRounds; r++) {
    const bare = await measure(opts, 'bare', schema);
    const mana = await measure(opts, 'mana', schema);
    rounds.push({ mana, bare });
  }
  const command = commandFor(opts, 'ws');
  const label = 'bare ws + node:http';
  const kb = (b: number) => b / 1024;
  const mem = (pick: (x: Run) => Phase): Round[] =>
    rounds.map(({ mana, bare }) => ({
      value: kb(pick(mana).rssPerSocket),
      baseline: kb(pick(bare).rssPerSocket),
      ratio: ratioOf(pick(mana).rssPerSocket, pick(bare).rssPerSocket, 'lower'),
      notes: {
        heapKbPerSocket: kb(pick(mana).heapPerSocket),
        baselineHeapKbPerSocket: kb(pick(bare).heapPerSocket),
      },
    }));
  const lat = (p: 'p50' | 'p99'): Round[] =>
    rounds.map(({ mana, bare }) => ({
      value: mana.latency[p],
      baseline: bare.latency[p],
      ratio: ratioOf(mana.latency[p], bare.latency[p], 'lower'),
      notes: { afterResponseMs: mana.afterResponse[p], missed: mana.missed },
    }));
  const n = (x: number) => x.toLocaleString('en-US');
  return [
    summarize(
      {
        id: `ws.mem.${small}`,
        figure: `memory per idle authenticated socket, ${n(small)} sockets`,
        unit: 'KB',
        baselineLabel: label,
        target: 'value <= 30 KB',
        command,
      },
      mem((x) => x.small),
      (f) => f.value <= 30,
    ),
    summarize(
      {
        id: `ws.mem.${large}`,
        figure: `memory per idle authenticated socket, ${n(small)} -> ${n(large)}`,
        unit: 'KB',
        baselineLabel: label,
        target: 'value <= 30 KB',
        command,
      },
      mem((x) => x.large),
      (f) => f.value <= 30,
    ),
    summarize(
      {
        id: 'ws.latency.p50',
        figure: `push -> sync-available p50, ${n(small)} sockets`,
        unit: 'ms',
        baselineLabel: label,
        command,
      },
      lat('p50'),
    ),
    summarize(
      {
        id: 'ws.latency.p99',
        figure: `push -> sync-available p99, ${n(small)} sockets`,
        unit: 'ms',
        baselineLabel: label,
        target: 'value <= 50 ms',
        command,
      },
      lat('p99'),
      (f) => f.value <= 50,
    ),
  ];
}

async function measure(opts: BenchOptions, kind: 'mana' | 'bare', schema: BenchSchema): Promise<Run> {
  const [small, large] = opts.wsSizes;
  const timeoutMs = 240_000;
  const server = forkIpc(
    SERVER,
    [JSON.stringify({ kind, url: schema.url, schema: schema.schema })],
    timeoutMs,
    ['--expose-gc'],
  );
  let client: IpcProcess | undefined;
  try {
    const { port } = await server.next<{ port: number }>();
    const { tokens } = await server.request<{ tokens: string[] }>({ cmd: 'tokens', users: large / PER_USER });
    client = forkIpc(CLIENT, [], timeoutMs);
    await client.next();
    const open = (total: number) => client!.request({ cmd: 'open', port, tokens, perUser: PER_USER, total });
    const memory = () => server.request<Memory>({ cmd: 'measure' });
    const phase = (a: Memory, b: Memory, sockets: number): Phase => ({
      rssPerSocket: (b.rss - a.rss) / sockets,
      heapPerSocket: (b.heapUsed + b.external - a.heapUsed - a.external) / sockets,
    });
    const m0 = await memory();
    await open(small);
    const m1 = await memory();
    const lat = await client.request<{ latency: Latency; afterResponse: Latency; missed: number }>({
      cmd: 'latency',
      port,
      tokens,
      perUser: PER_USER,
      users: small / PER_USER,
      pushes: opts.wsPushes,
    });
    const m1b = await memory();
    await open(large);
    const m2 = await memory();
    await client.request({ cmd: 'close' });
    await server.request({ cmd: 'stop' });
    return {
      small: phase(m0, m1, small),
      large: phase(m1b, m2, large - small),
      latency: lat.latency,
      afterResponse: lat.afterResponse,
      missed: lat.missed,
    };
  } catch (err) {
    client?.kill();
    server.kill();
    throw err;
  }
}
