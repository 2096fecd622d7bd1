import WebSocket from 'ws';
import { latencyOf } from '../lib/stats.js';
import { HttpConnection, httpRequest } from './http-client.js';

/**
 * Entry of the WebSocket load process: holds up to 10k sockets on one server and pushes
 * through HTTP to time notifications, on commands from the runner (one reply each):
 *
 *   open {total}     open and authenticate sockets until `total` are open (socket i acts for
 *                    user ⌊i / perUser⌋), at most 100 handshakes in flight
 *   latency {pushes} one push at a time, user after user; per push, the time from sending the
 *                    request to each of that user's sockets receiving sync-available
 *   close            close every socket and exit
 */
type Command =
  | { cmd: 'open'; port: number; tokens: string[]; perUser: number; total: number }
  | { cmd: 'latency'; port: number; tokens: string[]; perUser: number; users: number; pushes: number }
  | { cmd: 'close' };

setTimeout(() => process.exit(3), Number(process.env.BENCH_JOB_TIMEOUT_MS ?? 300_000)).unref();

const sockets: WebSocket[] = [];
/** Per user: when the current push was sent, and the sockets still waiting for it. */
const waiting = new Map<number, { t0: number; left: number; samples: number[]; done: () => void }>();

function openOne(port: number, token: string, user: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const timer = setTimeout(() => reject(new Error('auth-ok not received within 10 s')), 10_000);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('message', (data) => {
      const at = performance.now();
      const msg = JSON.parse(String(data)) as { type: string };
      if (msg.type === 'auth-ok') {
        clearTimeout(timer);
        sockets.push(ws);
        resolve();
      } else if (msg.type === 'sync-available') {
        const w = waiting.get(user);
        if (!w) return;
        w.samples.push(at - w.t0);
        if (--w.left === 0) w.done();
      }
    });
  });
}

async function open(c: Extract<Command, { cmd: 'open' }>) {
  const started = performance.now();
  let next = sockets.length;
  const worker = async () => {
    while (next < c.total) {
      const i = next++;
      const user = Math.floor(i / c.perUser);
      await openOne(c.port, c.tokens[user % c.tokens.length]!, user);
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  return { open: sockets.length, ms: Math.round(performance.now() - started) };
}

async function latency(c: Extract<Command, { cmd: 'latency' }>) {
  const conn = await HttpConnection.open('127.0.0.1', c.port);
  const toNotify: number[] = [];
  const afterResponse: number[] = [];
  let missed = 0;
  try {
    for (let i = 0; i < c.pushes; i++) {
      const user = i % c.users;
      const body = JSON.stringify({
        clientId: 'bench-pusher',
        changes: [
          {
            table: 'todos',
            id: `ws-${i}`,
            op: 'insert',
            fields: { n: { value: i, updatedAt: new Date().toISOString() } },
          },
        ],
      });
      const req = httpRequest(
        'POST',
        c.port,
        '/sync/bench',
        { Authorization: `Bearer ${c.tokens[user]}` },
        body,
      );
      const w = { t0: 0, left: c.perUser, samples: [] as number[], done: () => {} };
      const all = new Promise<void>((resolve) => {
        w.done = resolve;
      });
      waiting.set(user, w);
      w.t0 = performance.now();
      const res = await conn.send(req);
      const t1 = performance.now();
      if (res.status !== 200)
        throw new Error(`push answered ${res.status}: ${res.body.toString('utf8', 0, 200)}`);
      const timeout = new Promise<void>((r) => setTimeout(r, 5000).unref());
      await Promise.race([all, timeout]);
      waiting.delete(user);
      missed += w.left;
      toNotify.push(...w.samples);
      afterResponse.push(...w.samples.map((s) => s - (t1 - w.t0)));
    }
  } finally {
    conn.close();
  }
  return {
    notifications: toNotify.length,
    missed,
    latency: latencyOf(toNotify),
    afterResponse: latencyOf(afterResponse),
  };
}

process.on('message', (c: Command) => {
  const reply = (p: Promise<unknown>) =>
    p.then(
      (r) => process.send?.(r),
      (err: unknown) => process.send?.({ error: String((err as Error)?.stack ?? err) }),
    );
  if (c.cmd === 'open') reply(open(c));
  else if (c.cmd === 'latency') reply(latency(c));
  else {
    for (const ws of sockets) ws.terminate();
    process.send?.({ closed: sockets.length }, () => process.exit(0));
  }
});
process.send?.({ ready: true });
