import { closedLoop, type OpenLoad } from './closed-loop.js';
import { HttpConnection, httpRequest } from './http-client.js';
import type { HttpPushJob, LoadResult } from './jobs.js';

/** Todo-shaped changes: three timestamped fields, a new record each (the common insert path). */
export function pushBody(job: HttpPushJob, worker: number, seq: number, since: string | undefined): string {
  const updatedAt = new Date().toISOString();
  const changes = [];
  for (let k = 0; k < job.batch; k++) {
    changes.push({
      table: 'todos',
      id: `${job.runId}-${worker}-${seq}-${k}`,
      op: 'insert',
      fields: {
        title: { value: `Task ${seq}.${k} for the benchmark`, updatedAt },
        done: { value: false, updatedAt },
        priority: { value: k % 5, updatedAt },
      },
    });
  }
  return JSON.stringify(
    since ? { clientId: `bench-${worker}`, since, changes } : { clientId: `bench-${worker}`, changes },
  );
}

const SYNCED_UNTIL = /"syncedUntil":"([^"]+)"/;

export async function openPushLoad(job: HttpPushJob): Promise<OpenLoad> {
  const conns = await Promise.all(
    Array.from({ length: job.workers }, () => HttpConnection.open('127.0.0.1', job.port)),
  );
  const noise = job.alongside ? await openEmptyPushes(job.port, job.appId, job.alongside) : undefined;
  const since: Array<string | undefined> = [...(job.cursors ?? [])];
  const seqs = new Array<number>(job.workers).fill(0);
  return {
    async step(w) {
      const token = job.tokens[w % job.tokens.length]!;
      const seq = seqs[w]!;
      seqs[w] = seq + 1;
      const body = pushBody(job, w, seq, job.trackCursor ? since[w] : undefined);
      const req = httpRequest(
        'POST',
        job.port,
        `/sync/${job.appId}`,
        { Authorization: `Bearer ${token}` },
        body,
      );
      const res = await conns[w]!.send(req);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8', 0, 300)}`);
      if (job.trackCursor) {
        const tail = res.body.toString('utf8', Math.max(0, res.body.length - 200));
        since[w] = SYNCED_UNTIL.exec(tail)?.[1] ?? since[w];
      }
      return job.batch;
    },
    cursors: () => (job.trackCursor ? since : undefined),
    ...(noise ? { begin: noise.begin, end: noise.end } : {}),
    async close() {
      await noise?.end();
      noise?.close();
      for (const c of conns) c.close();
    },
  };
}

/**
 * Another user's empty pushes, one in flight per connection, from begin() to end(): each
 * asks for the push answer's page of everything the user has. Like an attacker, not like our
 * client: an answer of any status (a 429 too) is followed at once by the next request,
 * Retry-After ignored, and a connection the server closes is replaced by a new one (counted
 * as `closed`).
 */
async function openEmptyPushes(port: number, appId: string, noise: { token: string; workers: number }) {
  const conns = await Promise.all(
    Array.from({ length: noise.workers }, () => HttpConnection.open('127.0.0.1', port)),
  );
  const req = httpRequest(
    'POST',
    port,
    `/sync/${appId}`,
    { Authorization: `Bearer ${noise.token}` },
    JSON.stringify({ clientId: 'c', changes: [] }),
  );
  let running = false;
  let loops: Promise<unknown>[] = [];
  let statuses: Record<string, number> = {};
  const count = (what: string | number) => (statuses[what] = (statuses[what] ?? 0) + 1);
  const loop = async (w: number) => {
    while (running) {
      try {
        count((await conns[w]!.send(req)).status);
      } catch {
        count('closed');
        conns[w]!.close();
        conns[w] = await HttpConnection.open('127.0.0.1', port);
      }
    }
  };
  return {
    begin() {
      running = true;
      loops = conns.map((_, w) => loop(w).catch(() => {}));
    },
    /** Stops the loops; resolves with their answers by status since begin(). */
    async end() {
      running = false;
      await Promise.all(loops);
      loops = [];
      const out = statuses;
      statuses = {};
      return out;
    },
    close() {
      for (const c of conns) c.close();
    },
  };
}

export async function runPushLoad(job: HttpPushJob): Promise<LoadResult> {
  const load = await openPushLoad(job);
  try {
    const result = await closedLoop(job.workers, job, (w) => load.step(w));
    const cursors = load.cursors();
    return cursors ? { ...result, cursors } : result;
  } finally {
    await load.close();
  }
}
