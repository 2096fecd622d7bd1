import { HttpConnection, httpRequest } from './http-client.js';
import type { PullJob, PullResult } from './jobs.js';

/** A client's initial sync: pages of `pageSize` until hasMore is false, each response parsed. */
export async function runPull(job: PullJob): Promise<PullResult> {
  const conn = await HttpConnection.open('127.0.0.1', job.port);
  try {
    const started = performance.now();
    let since: string | undefined;
    let records = 0;
    let pages = 0;
    for (;;) {
      if (performance.now() - started > job.maxMs) throw new Error(`pull took over ${job.maxMs} ms`);
      const query = new URLSearchParams({ collection: job.table, limit: String(job.pageSize) });
      if (since) query.set('since', since);
      const req = httpRequest('GET', job.port, `/sync/${job.appId}/pull?${query}`, {
        Authorization: `Bearer ${job.token}`,
        'X-Client-Id': 'bench-pull',
      });
      const res = await conn.send(req);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8', 0, 300)}`);
      const page = JSON.parse(res.body.toString('utf8')) as {
        serverChanges: unknown[];
        syncedUntil: string;
        hasMore: boolean;
      };
      pages++;
      records += page.serverChanges.length;
      since = page.syncedUntil;
      if (!page.hasMore) break;
    }
    if (records !== job.expected) throw new Error(`pull read ${records} records, expected ${job.expected}`);
    return { records, pages, elapsedMs: performance.now() - started };
  } finally {
    conn.close();
  }
}
