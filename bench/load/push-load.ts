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
    async close() {
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
