import {
  type ApplyReport,
  applyServerChanges,
  type DroppedChange,
  type LocalRecord,
  type LocalStore,
} from './webapp-apply.js';
import { type ChangesBlock, readSse } from './webapp-sse.js';

/**
 * A model of the Mana web app's sync engine for one appId (see /work/notes/webapp-engine.md
 * and DESIGN §12), written from that description only, over an in-memory store: the Dexie
 * tables (records with `__fieldTimestamps`), `_syncMeta` cursors per table and the
 * `_pendingChanges` outbox. It makes local writes the way the web app makes them and syncs
 * them the way its engine does: push with the oldest cursor and the all-tables cursor update,
 * paged pulls per table, and the SSE stream.
 *
 * Every server change the engine would drop (isValidSyncChange) is kept in `dropped`, so a
 * test can fail on it instead of losing data silently as the web app would.
 */

export const EPOCH_CURSOR = '1970-01-01T00:00:00.000Z';

export interface PendingChange {
  table: string;
  id: string;
  op: 'insert' | 'update' | 'delete';
  fields?: Record<string, { value: unknown; updatedAt: string }>;
  data?: Record<string, unknown>;
  deletedAt?: string;
}

interface PendingRow {
  seq: number;
  change: PendingChange;
}

export interface WebAppOptions {
  /** Server base URL. */
  url: string;
  appId: string;
  /** The app's tables (its collections on this channel). */
  tables: readonly string[];
  clientId: string;
  token(): Promise<string>;
  /**
   * Test knob, not the web app's: the web app pulls without `limit` (server default 1000);
   * a small limit here makes its hasMore loop run with a few records.
   */
  pullLimit?: number;
  /** Delay before a push retry and before a stream reconnect (the web app: backoff, 5 s). */
  retryDelayMs?: number;
}

export interface PushAnswer {
  status: number;
  body: {
    serverChanges?: unknown[];
    syncedUntil?: string;
    hasMore?: boolean;
    conflicts?: unknown[];
  };
  /** The pending changes this push sent (and cleared). */
  sent: PendingChange[];
}

export interface PullPage {
  table: string;
  since: string;
  status: number;
  body: { serverChanges?: unknown[]; syncedUntil?: string; hasMore?: boolean };
}

export class WebAppHttpError extends Error {
  override name = 'WebAppHttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A running SSE subscription of one model client. */
export interface StreamHandle {
  /** Status of the first connection (200, or what the server answered instead). */
  readonly firstStatus: Promise<number>;
  readonly statuses: number[];
  readonly blocks: ChangesBlock[];
  readonly others: string[];
  /** True once a non-200 made the engine fall back to polling (it does not retry the stream). */
  fellBack: boolean;
  close(): void;
}

export class WebAppClient {
  readonly store: LocalStore = new Map();
  /** `_syncMeta[appId, table].lastSyncedAt` */
  readonly cursors = new Map<string, string>();
  pending: PendingRow[] = [];
  readonly dropped: DroppedChange[] = [];
  conflicts = 0;
  private seq = 0;

  constructor(readonly opts: WebAppOptions) {
    for (const t of opts.tables) this.store.set(t, new Map());
  }

  get clientId(): string {
    return this.opts.clientId;
  }

  cursor(table: string): string {
    return this.cursors.get(table) ?? EPOCH_CURSOR;
  }

  /** The engine's oldestCursor: the minimum over the app's tables, starting from now. */
  oldestCursor(): string {
    let oldest = new Date().toISOString();
    for (const t of this.opts.tables) {
      const c = this.cursor(t);
      if (c < oldest) oldest = c;
    }
    return oldest;
  }

  // ---- local writes, as the web app's Dexie hooks make them ----

  /** A new record: stored with every field at `at`, queued as an insert carrying `data`. */
  insert(table: string, id: string, fields: Record<string, unknown>, at: string): void {
    const data: Record<string, unknown> = { id, ...fields, createdAt: at, updatedAt: at };
    const ft: Record<string, string> = {};
    for (const key of Object.keys(data)) if (key !== 'id') ft[key] = at;
    this.table(table).set(id, { ...data, id, __fieldTimestamps: ft });
    this.queue({ table, id, op: 'insert', data });
  }

  /** Changes some fields of a local record; queued as an update carrying `fields`. */
  update(table: string, id: string, fields: Record<string, unknown>, at: string): void {
    const rec = this.table(table).get(id);
    if (!rec) throw new Error(`web app ${this.clientId}: no local ${table}/${id} to update`);
    const wire: Record<string, { value: unknown; updatedAt: string }> = {};
    const ft = { ...rec.__fieldTimestamps };
    const next = { ...rec };
    for (const [k, v] of Object.entries(fields)) {
      next[k] = v;
      ft[k] = at;
      wire[k] = { value: v, updatedAt: at };
    }
    this.table(table).set(id, { ...next, __fieldTimestamps: ft });
    this.queue({ table, id, op: 'update', fields: wire });
  }

  /** A soft delete locally, queued as op delete with deletedAt. */
  delete(table: string, id: string, at: string): void {
    const rec = this.table(table).get(id);
    if (!rec) throw new Error(`web app ${this.clientId}: no local ${table}/${id} to delete`);
    this.table(table).set(id, {
      ...rec,
      deletedAt: at,
      updatedAt: at,
      __fieldTimestamps: { ...rec.__fieldTimestamps, deletedAt: at, updatedAt: at },
    });
    this.queue({ table, id, op: 'delete', deletedAt: at });
  }

  /** Queues a change as it is (targeted tests: e.g. an update for an id with no local record). */
  queue(change: PendingChange): void {
    this.pending.push({ seq: ++this.seq, change });
  }

  /** A live local record (not soft-deleted). */
  live(table: string, id: string): boolean {
    const rec = this.store.get(table)?.get(id);
    return rec !== undefined && !rec.deletedAt;
  }

  private table(name: string): Map<string, LocalRecord> {
    let t = this.store.get(name);
    if (!t) {
      t = new Map();
      this.store.set(name, t);
    }
    return t;
  }

  // ---- sync ----

  private async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    return { Authorization: `Bearer ${await this.opts.token()}`, 'X-Client-Id': this.clientId, ...extra };
  }

  private base(): string {
    return `${this.opts.url}/sync/${this.opts.appId}`;
  }

  /** applyServerChanges, keeping what the engine would drop. */
  apply(changes: unknown): ApplyReport {
    const report = applyServerChanges(this.store, changes, () => new Date().toISOString());
    this.dropped.push(...report.dropped);
    this.conflicts += report.conflicts;
    return report;
  }

  /**
   * One push of everything pending, as the engine does it. Retries status 0/408/429/5xx up to
   * 3 times; any other non-ok answer throws. Returns null when nothing is pending.
   */
  async push(): Promise<PushAnswer | null> {
    if (this.pending.length === 0) return null;
    const rows = [...this.pending];
    const body = JSON.stringify({
      clientId: this.clientId,
      since: this.oldestCursor(),
      changes: rows.map((r) => ({
        table: r.change.table,
        id: r.change.id,
        op: r.change.op,
        fields: r.change.fields,
        data: r.change.data,
        deletedAt: r.change.deletedAt,
      })),
    });
    let res: Response | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(this.base(), {
          method: 'POST',
          headers: await this.headers({ 'Content-Type': 'application/json' }),
          body,
        });
      } catch {
        res = null; // status 0
      }
      const status = res?.status ?? 0;
      const retryable = status === 0 || status === 408 || status === 429 || status >= 500;
      if (!retryable || attempt >= 3) break;
      await sleep((this.opts.retryDelayMs ?? 50) * 2 ** attempt);
    }
    if (!res) throw new WebAppHttpError(0, `push of ${this.clientId}: network error`);
    const text = await res.text();
    if (!res.ok) throw new WebAppHttpError(res.status, `push of ${this.clientId}: ${res.status} ${text}`);
    const data = JSON.parse(text) as PushAnswer['body'];
    this.apply(data.serverChanges ?? []);
    // Every table of the app takes the answer's syncedUntil; hasMore is ignored.
    if (data.syncedUntil) for (const t of this.opts.tables) this.cursors.set(t, data.syncedUntil);
    const sent = new Set(rows.map((r) => r.seq));
    this.pending = this.pending.filter((r) => !sent.has(r.seq));
    return { status: res.status, body: data, sent: rows.map((r) => r.change) };
  }

  /** Pulls one table while hasMore, then stores the cursor reached. Returns the pages. */
  async pull(table: string): Promise<PullPage[]> {
    let cursor = this.cursor(table);
    const pages: PullPage[] = [];
    for (let hasMore = true; hasMore; ) {
      if (pages.length > 10_000) throw new Error(`pull of ${table} never ended (hasMore stayed true)`);
      const q = new URLSearchParams({ collection: table, since: cursor });
      if (this.opts.pullLimit) q.set('limit', String(this.opts.pullLimit));
      const res = await fetch(`${this.base()}/pull?${q}`, { headers: await this.headers() });
      const text = await res.text();
      const page: PullPage = { table, since: cursor, status: res.status, body: {} };
      pages.push(page);
      if (!res.ok) break;
      page.body = JSON.parse(text) as PullPage['body'];
      this.apply(page.body.serverChanges ?? []);
      if (!page.body.syncedUntil) break;
      cursor = page.body.syncedUntil;
      hasMore = page.body.hasMore === true;
    }
    this.cursors.set(table, cursor);
    return pages;
  }

  async pullAll(): Promise<PullPage[]> {
    const pages: PullPage[] = [];
    for (const t of this.opts.tables) pages.push(...(await this.pull(t)));
    return pages;
  }

  /**
   * Opens the SSE stream for `collections` from the oldest cursor. Each `changes` block is
   * applied and sets that table's cursor. When the stream ends it reconnects (the web app after
   * 5 s); a non-200 answer makes it fall back to polling, which is the caller's job then.
   */
  stream(collections: readonly string[] = this.opts.tables): StreamHandle {
    const controller = new AbortController();
    let resolveFirst: (status: number) => void = () => {};
    const firstStatus = new Promise<number>((r) => {
      resolveFirst = r;
    });
    const handle: StreamHandle = {
      firstStatus,
      statuses: [],
      blocks: [],
      others: [],
      fellBack: false,
      close: () => controller.abort(),
    };
    const connect = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        const url = `${this.base()}/stream?collections=${collections.join(',')}&since=${encodeURIComponent(this.oldestCursor())}`;
        let res: Response;
        try {
          res = await fetch(url, {
            headers: await this.headers({ Accept: 'text/event-stream' }),
            signal: controller.signal,
          });
        } catch {
          if (controller.signal.aborted) return;
          handle.statuses.push(0);
          resolveFirst(0);
          await sleep(this.opts.retryDelayMs ?? 50);
          continue;
        }
        handle.statuses.push(res.status);
        resolveFirst(res.status);
        if (res.status !== 200 || !res.body) {
          await res.body?.cancel();
          handle.fellBack = true;
          return;
        }
        try {
          await readSse(res.body, {
            onChanges: (block) => {
              handle.blocks.push(block);
              this.apply(block.changes ?? []);
              if (block.syncedUntil && block.table) this.cursors.set(block.table, block.syncedUntil);
            },
            onUnreadable: (data, err) => {
              this.dropped.push({ change: data, reason: `changes block is not JSON: ${String(err)}` });
            },
            onOther: (type) => handle.others.push(type),
          });
        } catch {
          // aborted, or the connection broke: reconnect below unless closed
        }
        if (controller.signal.aborted) return;
        await sleep(this.opts.retryDelayMs ?? 50);
      }
    };
    void connect();
    return handle;
  }

  /** Visible records: non-deleted ones as `table/id` → fields (without bookkeeping). */
  visible(): Map<string, Record<string, unknown>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const [table, records] of this.store) {
      for (const [id, rec] of records) {
        if (rec.deletedAt) continue;
        out.set(`${table}/${id}`, rec);
      }
    }
    return out;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
