import { connect } from 'node:net';
import { latencyOf } from '../lib/stats.js';
import { HttpConnection, httpRequest } from './http-client.js';
import type { AbuseJob, AbuseResult } from './jobs.js';

const SYNCED_UNTIL = /"syncedUntil":"([^"]+)"/;
const HAS_MORE = /"hasMore":(true|false)/;

/** The abuse figures' load: idle, then the abuse, `/health` polled throughout (see AbuseJob). */
export async function runAbuse(job: AbuseJob): Promise<AbuseResult> {
  const started = performance.now();
  const health = { idle: [] as number[], loaded: [] as number[], failed: 0 };
  // An object, not a let: the poller reads what the main flow changes.
  const now: { phase: 'idle' | 'loaded' | 'done' } = { phase: 'idle' };
  const healthConn = await HttpConnection.open('127.0.0.1', job.port);
  const healthReq = httpRequest('GET', job.port, '/health', {});
  // A fresh poll every healthEveryMs, or as soon as a slow one returns: a stalled server
  // shows as one long sample, not as many missing ones.
  const poller = (async () => {
    while (now.phase !== 'done') {
      const t0 = performance.now();
      const at = now.phase;
      const res = await healthConn.send(healthReq);
      const ms = performance.now() - t0;
      if (res.status !== 200) health.failed++;
      else health[at].push(ms);
      await sleep(Math.max(0, job.healthEveryMs - ms));
    }
  })();
  const out: AbuseResult = {
    health: { idle: stats([]), loaded: stats([]), failed: 0 },
    pages: 0,
    bytes: 0,
    passes: 0,
    refusals: {},
    bytesSent: 0,
    errors: 0,
  };
  const fail = (err: unknown) => {
    out.errors++;
    out.firstError ??= String((err as Error)?.message ?? err);
  };
  await sleep(job.idleMs);
  now.phase = 'loaded';
  process.send?.({ mark: 0 });
  const until = performance.now() + job.durationMs;
  const deadline = started + job.maxMs;
  const lanes = job.load === 'big-pulls' ? job.clients : job.uploads;
  await Promise.all(
    Array.from({ length: lanes }, () =>
      (job.load === 'big-pulls' ? pullLoop(job, out, until, deadline) : uploadLoop(job, out, until)).catch(
        fail,
      ),
    ),
  );
  process.send?.({ mark: 1 });
  now.phase = 'done';
  await poller.catch(fail);
  healthConn.close();
  out.health = { idle: stats(health.idle), loaded: stats(health.loaded), failed: health.failed };
  return out;
}

/** One client: whole passes over the table (pages until hasMore is false) until `until`. */
async function pullLoop(job: AbuseJob, out: AbuseResult, until: number, deadline: number): Promise<void> {
  const conn = await HttpConnection.open('127.0.0.1', job.port);
  try {
    do {
      let since: string | undefined;
      for (;;) {
        if (performance.now() > deadline) throw new Error(`a pass took past ${job.maxMs} ms`);
        const query = new URLSearchParams({ collection: job.table, limit: '1000' });
        if (since) query.set('since', since);
        const res = await conn.send(
          httpRequest('GET', job.port, `/sync/${job.appId}/pull?${query}`, {
            Authorization: `Bearer ${job.token}`,
            'X-Client-Id': 'bench-abuse',
          }),
        );
        // A limit holding (429: the user's queue, RATE_LIMIT_CONCURRENCY) is counted, and the
        // page asked again at once, Retry-After ignored, as an attacker would.
        if (res.status === 429) {
          out.refusals['429'] = (out.refusals['429'] ?? 0) + 1;
          continue;
        }
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8', 0, 300)}`);
        out.pages++;
        out.bytes += res.body.length;
        // The cursor and hasMore come last: no need to parse 10 MB of JSON to find them.
        const tail = res.body.toString('utf8', Math.max(0, res.body.length - 300));
        since = SYNCED_UNTIL.exec(tail)?.[1];
        if (HAS_MORE.exec(tail)?.[1] !== 'true') break;
      }
      out.passes++;
    } while (performance.now() < until);
  } finally {
    conn.close();
  }
}

/** One held upload after another until `until`: headers, then 16 KB every 20 ms. */
async function uploadLoop(job: AbuseJob, out: AbuseResult, until: number): Promise<void> {
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  while (performance.now() < until) {
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: job.port });
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const done = (why: string) => {
        clearInterval(timer);
        socket.destroy();
        resolve(why);
      };
      socket.once('connect', () => {
        socket.write(
          `POST /sync/${job.appId} HTTP/1.1\r\nHost: 127.0.0.1:${job.port}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${job.contentLength}\r\n\r\n`,
        );
        timer = setInterval(() => {
          if (performance.now() >= until) return done('held');
          if (sent + chunk.length >= job.contentLength) return; // never completes the body
          socket.write(chunk);
          sent += chunk.length;
          out.bytesSent += chunk.length;
        }, 20);
      });
      socket.once('data', (d: Buffer) => done(d.toString('latin1', 9, 12)));
      socket.once('error', () => done('closed'));
      socket.once('close', () => done('closed'));
    });
    out.refusals[outcome] = (out.refusals[outcome] ?? 0) + 1;
  }
}

function stats(samples: number[]) {
  return { ...latencyOf(samples), n: samples.length };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
