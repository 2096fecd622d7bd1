/**
 * A load of pushes whose every batch can be checked for all-or-nothing afterwards.
 *
 * Batch `k0-w2-b17` writes records `k0-w2-b17-r0` … `-r{size-1}`, each with the field
 * `batch = "k0-w2-b17"`, and moves worker 2's counter record `counter-w2` to `n = 17`. A batch
 * is acknowledged only by a 200. Afterwards: every acknowledged batch has all its records,
 * no batch has some but not all, and each counter is at least its last acknowledged n.
 */

export interface LoadResult {
  acked: Set<string>;
  /** Highest acknowledged n per worker. */
  counters: Map<number, number>;
  statuses: Map<string, number>;
  /** Requests that got no HTTP answer (connection refused or reset). */
  networkErrors: number;
  /** What those were: TimeoutError (a hang), or the cause code (ECONNREFUSED, …). */
  networkErrorKinds: Record<string, number>;
  sent: number;
  /** Unexpected answers (a 5xx other than 503, or a 503 without code/Retry-After). */
  bad: string[];
}

export interface LoadOptions {
  url: () => string;
  token: string;
  workers: number;
  size: number;
  stop: () => boolean;
  /** Makes batch ids unique across loads (one load per kill cycle). */
  prefix: string;
}

/** Starts the load; `result` fills in live, `done` settles when every worker has stopped. */
export function startLoad(opts: LoadOptions): { result: LoadResult; done: Promise<void> } {
  const result: LoadResult = {
    acked: new Set(),
    counters: new Map(),
    statuses: new Map(),
    networkErrors: 0,
    networkErrorKinds: {},
    sent: 0,
    bad: [],
  };
  const worker = async (w: number) => {
    for (let n = 0; !opts.stop(); n++) {
      const batch = `${opts.prefix}w${w}-b${n}`;
      // Timestamps grow with n, so a later batch's counter wins under LWW.
      const at = new Date(Date.UTC(2024, 0, 1) + n * 1000).toISOString();
      const changes = [
        ...Array.from({ length: opts.size }, (_, i) => ({
          table: 'load',
          id: `${batch}-r${i}`,
          op: 'insert',
          fields: { batch: { value: batch, updatedAt: at }, i: { value: i, updatedAt: at } },
        })),
        { table: 'counters', id: `counter-w${w}`, op: 'update', fields: { n: { value: n, updatedAt: at } } },
      ];
      result.sent++;
      try {
        const res = await fetch(`${opts.url()}/sync/load`, {
          method: 'POST',
          headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ clientId: `worker-${w}`, changes }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        result.statuses.set(String(res.status), (result.statuses.get(String(res.status)) ?? 0) + 1);
        if (res.status === 200) {
          result.acked.add(batch);
          result.counters.set(w, Math.max(result.counters.get(w) ?? -1, n));
        } else if (res.status === 503) {
          const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
          if (code !== 'DB_UNAVAILABLE' || !res.headers.get('retry-after')) result.bad.push(`503 ${text}`);
          await new Promise((r) => setTimeout(r, 50));
        } else {
          result.bad.push(`${res.status} ${text.slice(0, 200)}`);
        }
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        const kind = e.name === 'TimeoutError' ? 'TimeoutError' : (e.cause?.code ?? e.name);
        result.networkErrorKinds[kind] = (result.networkErrorKinds[kind] ?? 0) + 1;
        result.networkErrors++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w))).then(() => {});
  return { result, done };
}

export interface StoredRecord {
  table: string;
  id: string;
  fields: Record<string, { value: unknown }>;
}

/** Checks the stored records against the load; returns the problems found (empty: none). */
export function verifyLoad(
  load: LoadResult,
  records: StoredRecord[],
  size: number,
): {
  problems: string[];
  changesChecked: number;
} {
  const problems: string[] = [];
  const byBatch = new Map<string, number>();
  const counters = new Map<string, number>();
  for (const r of records) {
    if (r.table === 'load') {
      const batch = String(r.fields.batch?.value);
      if (!r.id.startsWith(`${batch}-r`)) problems.push(`record ${r.id} carries batch ${batch}`);
      byBatch.set(batch, (byBatch.get(batch) ?? 0) + 1);
    } else if (r.table === 'counters') {
      counters.set(r.id, Number(r.fields.n?.value));
    }
  }
  for (const batch of load.acked) {
    if (byBatch.get(batch) !== size)
      problems.push(`acknowledged batch ${batch} has ${byBatch.get(batch) ?? 0}/${size} records`);
  }
  for (const [batch, count] of byBatch) {
    if (count !== size) problems.push(`batch ${batch} is half written: ${count}/${size}`);
  }
  for (const [w, n] of load.counters) {
    const stored = counters.get(`counter-w${w}`);
    if (stored === undefined || stored < n) problems.push(`counter-w${w} is ${stored}, acknowledged ${n}`);
  }
  return { problems, changesChecked: load.acked.size * (size + 1) };
}

/** Every record of the given tables, read through the server's pull. */
export async function pullEverything(url: string, token: string, tables: string[]): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for (const table of tables) {
    let since: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ collection: table, limit: '5000', ...(since ? { since } : {}) });
      const res = await fetch(`${url}/sync/load/pull?${q}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status !== 200) throw new Error(`pull answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as {
        serverChanges: StoredRecord[];
        syncedUntil: string;
        hasMore: boolean;
      };
      out.push(...body.serverChanges);
      since = body.syncedUntil;
      if (!body.hasMore) break;
    }
  }
  return out;
}
