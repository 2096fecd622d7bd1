import { type Canonical, canonicalize, EPOCH, type PushResponse } from '@mana/sync-protocol';
import type { Dexie } from 'dexie';
import { type ApplyContext, applyServerChanges } from './apply.js';
import { AuthRefusedError } from './auth.js';
import type { Backoff } from './backoff.js';
import { ensureClientId } from './client-id.js';
import { coalesce, recordKey } from './outbox.js';
import {
  ADOPTION_TIMESTAMP,
  OUTBOX_TABLE,
  type OutboxRow,
  STATE_TABLE,
  type StateRow,
  stateKey,
} from './schema.js';
import type { SyncEvent } from './state-machine.js';
import type { ConflictEvent, SyncErrorInfo } from './status.js';
import { type Transport, TransportError } from './transport.js';

/**
 * The leader's sync loop. One run at a time (single flight); requests that arrive during a
 * run are merged and served by another pass of the same run.
 *
 *   run: push the outbox in batches ─▶ pull the wanted tables, each page its own transaction
 *          │ failure: classify (transport.ts) ─▶ state event ─▶ retry timer unless auth/rejected
 */
export interface EngineOptions extends ApplyContext {
  db: Dexie;
  tableList: readonly string[];
  user: () => string;
  transport: Transport;
  backoff: Backoff;
  pushBatchSize: number;
  pullLimit: number;
  send(event: SyncEvent, error?: SyncErrorInfo | null): void;
  onConflict(c: ConflictEvent): void;
  onSynced(): void;
}

export interface SyncRequest {
  push?: boolean;
  pull?: readonly string[] | 'all';
}

export interface Engine {
  request(r: SyncRequest): Promise<void>;
  /** Aborts the request in flight (stall recovery); the run fails and retries. */
  abort(reason: 'stalled' | 'offline' | 'stopped'): void;
  /** Date.now() of the last push the server acknowledged. */
  readonly lastPushOkAt: number;
  dispose(): void;
}

export function createEngine(o: EngineOptions): Engine {
  const outbox = o.db.table<OutboxRow, number>(OUTBOX_TABLE);
  const state = o.db.table<StateRow, string>(STATE_TABLE);
  let wantPush = false;
  let wantPull = new Set<string>();
  let running: Promise<void> | null = null;
  let controller: AbortController | null = null;
  let abortReason: 'stalled' | 'offline' | 'stopped' | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  let lastPushOkAt = 0;
  /** This device's id for the current run (client-id.ts): the server's echo key. */
  let clientId = '';
  /** A push answered `hasMore` during a pull: every table needs a pull afterwards. */
  let needPullAll = false;

  const cursorOf = async (table: string): Promise<Canonical> =>
    ((await state.get(stateKey.cursor(o.user(), table)))?.value as Canonical | undefined) ?? EPOCH;

  async function pushAll(signal: AbortSignal): Promise<boolean> {
    let needPull = false;
    for (;;) {
      const rows = await outbox.orderBy('seq').limit(o.pushBatchSize).toArray();
      if (rows.length === 0) return needPull;
      const cursors = await Promise.all(o.tableList.map(cursorOf));
      // The response holds every record after `since`, so every table is caught up to its
      // syncedUntil once it is applied: since = the oldest cursor keeps that true for all.
      const since = [...cursors].sort()[0] ?? EPOCH;
      const res = await o.transport.push({ clientId, since, changes: coalesce(rows) }, signal);
      await applyPushResponse(rows, cursors, res);
      lastPushOkAt = Date.now();
      if (res.hasMore) needPull = true;
    }
  }

  async function applyPushResponse(rows: OutboxRow[], cursors: Canonical[], res: PushResponse) {
    const until = (canonicalize(res.syncedUntil) ?? res.syncedUntil) as Canonical;
    const moved: StateRow[] = [];
    o.tableList.forEach((table, i) => {
      if (until > cursors[i]!) moved.push({ key: stateKey.cursor(o.user(), table), value: until });
    });
    const sent = new Set(rows.map((r) => recordKey(r.table, r.id)));
    const conflicts = res.conflicts.filter((c) => sent.has(recordKey(c.table, c.id)));
    await applyServerChanges(o, {
      changes: res.serverChanges,
      conflicts,
      acknowledged: rows.map((r) => r.seq!),
      state: moved,
    });
    for (const c of conflicts) {
      // Servers write these with 3 or 6 fractional digits: the app sees one form.
      const clientUpdatedAt = canonicalize(c.clientUpdatedAt) ?? c.clientUpdatedAt;
      const serverUpdatedAt = canonicalize(c.serverUpdatedAt) ?? c.serverUpdatedAt;
      // Records that existed before sync was attached merge under the server's data by design.
      if (clientUpdatedAt === ADOPTION_TIMESTAMP) continue;
      o.onConflict({ ...c, clientUpdatedAt, serverUpdatedAt, localValue: c.clientValue });
    }
  }

  async function pullTable(table: string, signal: AbortSignal) {
    let since = await cursorOf(table);
    for (;;) {
      const res = await o.transport.pull(table, since, o.pullLimit, clientId, signal);
      const until = (canonicalize(res.syncedUntil) ?? res.syncedUntil) as Canonical;
      await applyServerChanges(o, {
        changes: res.serverChanges,
        state: until > since ? [{ key: stateKey.cursor(o.user(), table), value: until }] : [],
      });
      since = until;
      if (!res.hasMore) return;
      // A long first sync must not hold back what the user writes meanwhile.
      if (wantPush) {
        wantPush = false;
        if (await pushAll(signal)) needPullAll = true;
        since = await cursorOf(table); // the push response may have moved it
      }
      // Let the page breathe between pages of a large first sync.
      await new Promise((r) => setTimeout(r, 0));
      if (signal.aborted) throw new TransportError('retry', 'NETWORK', 'aborted');
    }
  }

  async function run(): Promise<boolean> {
    while (!disposed && (wantPush || wantPull.size > 0)) {
      const pull = wantPull;
      wantPush = false;
      wantPull = new Set();
      controller = new AbortController();
      abortReason = null;
      o.send('syncStarted');
      try {
        clientId = await ensureClientId(o.db);
        const tables = (await pushAll(controller.signal)) ? o.tableList : [...pull];
        needPullAll = false;
        for (const table of tables) await pullTable(table, controller.signal);
        if (needPullAll) for (const table of o.tableList) await pullTable(table, controller.signal);
        o.backoff.reset();
        o.send('syncSucceeded', null);
        o.onSynced();
      } catch (err) {
        fail(err);
        return false;
      } finally {
        controller = null;
      }
    }
    return true;
  }

  function fail(err: unknown) {
    if (disposed || abortReason === 'stopped') return;
    const at = Date.now();
    if (abortReason === 'stalled') {
      // Status already says STALLED; try again soon on a fresh connection.
      return retry(o.backoff.next());
    }
    if (abortReason === 'offline') return; // the online event brings us back
    if (err instanceof AuthRefusedError) {
      o.send('authRefused', { code: 'AUTH_REFUSED', message: err.message, at });
      return; // no retry: the app must sign in again (then sync() or start())
    }
    if (err instanceof TransportError) {
      if (err.kind === 'rejected') {
        o.send('rejected', { code: err.code, message: err.message, at });
        return;
      }
      o.send(err.code === 'NETWORK' ? 'networkFailed' : 'serverFailed', {
        code: err.code,
        message: err.message,
        at,
      });
      return retry(Math.max(err.retryAfterMs ?? 0, o.backoff.next()));
    }
    o.send('serverFailed', { code: 'INTERNAL', message: String((err as Error)?.message ?? err), at });
    retry(o.backoff.next());
  }

  function retry(delayMs: number) {
    clearTimeout(retryTimer);
    if (!disposed) retryTimer = setTimeout(() => void request({ push: true, pull: 'all' }), delayMs);
  }

  function request(r: SyncRequest): Promise<void> {
    if (disposed) return Promise.resolve();
    if (r.push) wantPush = true;
    const tables = r.pull === 'all' ? o.tableList : (r.pull ?? []).filter((t) => o.tables.has(t));
    for (const t of tables) wantPull.add(t);
    if (!running) {
      clearTimeout(retryTimer);
      running = run().then((ok) => {
        running = null;
        // A request that landed between the last check and now still gets its run.
        if (ok && !disposed && (wantPush || wantPull.size > 0)) void request({});
      });
    }
    return running;
  }

  return {
    request,
    abort(reason) {
      abortReason = reason;
      controller?.abort();
    },
    get lastPushOkAt() {
      return lastPushOkAt;
    },
    dispose() {
      disposed = true;
      clearTimeout(retryTimer);
      abortReason = 'stopped';
      controller?.abort();
    },
  };
}
