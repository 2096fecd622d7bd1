import { closedLoop } from './closed-loop.js';
import { HttpConnection, httpRequest } from './http-client.js';
import type { AlternatingPushJob, AlternatingResult, HttpPushJob, LoadResult } from './jobs.js';

/** Todo-shaped changes: three timestamped fields, a new record each (the common insert path). */
export function pushBody(
  job: Pick<HttpPushJob, 'batch' | 'runId'>,
  worker: number,
  seq: number,
  since: string | undefined,
): string {
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

export async function runPushLoad(job: HttpPushJob): Promise<LoadResult> {
  const conns = await Promise.all(
    Array.from({ length: job.workers }, () => HttpConnection.open('127.0.0.1', job.port)),
  );
  const since: Array<string | undefined> = [...(job.cursors ?? [])];
  const seqs = new Array<number>(job.workers).fill(0);
  try {
    const result = await closedLoop(job.workers, job, async (w) => {
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
    });
    return job.trackCursor ? { ...result, cursors: since } : result;
  } finally {
    for (const c of conns) c.close();
  }
}

/** Slice n's server: A B B A A B B A ... (a linear drift weighs on both alike). */
export const sliceTarget = (n: number): 0 | 1 => (((n + 1) >> 1) % 2) as 0 | 1;

export async function runAlternatingPushLoad(job: AlternatingPushJob): Promise<AlternatingResult> {
  const open = (port: number) =>
    Promise.all(Array.from({ length: job.workers }, () => HttpConnection.open('127.0.0.1', port)));
  const conns = [await open(job.targets[0].port), await open(job.targets[1].port)];
  const seqs = new Array<number>(job.workers).fill(0);
  const slices: AlternatingResult['slices'] = [];
  try {
    for (let n = 0; n < job.slices; n++) {
      const target = sliceTarget(n);
      const { port, tokens } = job.targets[target];
      process.send?.({ mark: n });
      const result = await closedLoop(job.workers, job.slice, async (w) => {
        const seq = seqs[w]!;
        seqs[w] = seq + 1;
        const body = pushBody(job, w, seq, undefined);
        const token = tokens[w % tokens.length]!;
        const req = httpRequest(
          'POST',
          port,
          `/sync/${job.appId}`,
          { Authorization: `Bearer ${token}` },
          body,
        );
        const res = await conns[target]![w]!.send(req);
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8', 0, 300)}`);
        return job.batch;
      });
      process.send?.({ mark: n });
      slices.push({ ...result, target });
    }
    return { slices };
  } finally {
    for (const c of conns.flat()) c.close();
  }
}
