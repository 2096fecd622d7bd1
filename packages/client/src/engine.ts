import {
  type Canonical,
  type Change,
  canonicalize,
  decodeValue,
  EPOCH,
  type PushResponse,
} from '@mana/sync-protocol';
import type { Dexie } from 'dexie';
import { type ApplyContext, applyServerChanges } from './apply.js';
import { AuthRefusedError } from './auth.js';
import type { Backoff } from './backoff.js';
import { ensureClientId } from './client-id.js';
import { countBlocked, heldBackProblem, recheckBlocked, setAside } from './held-back.js';
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
import type { ConflictEvent, RefusedChange, SyncErrorInfo } from './status.js';
import { type Transport, TransportError } from './transport.js';
import { yieldToHost } from './yield.js';

/**
 * The leader's sync loop. One run at a time (single flight); requests that arrive during a
 * run are merged and served by another pass of the same run.
 *
 *   run: push the outbox in batches ─▶ pull the wanted tables, each page its own transaction
 *          │ failure: classify (transport.ts) ─▶ state event ─▶ retry timer unless auth/rejected
 *          │ a push refused for good (4xx): the refused change is set aside, the rest go on
 *   end: synced, or error when changes are held back (held-back.ts)
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
  /** A change the server refused for good was set aside (held-back.ts). */
  onRefused(c: RefusedChange): void;
  /** The outbox lost rows (acknowledged, set aside): recount `pending`. */
  onOutboxChanged(): Promise<void>;
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
  /**
   * The outbox changed (another tab's write, or this engine's own acknowledgement): true when
   * the push loop takes it (it rereads the outbox and recounts when it ends), false when the
   * caller should recount now.
   */
  noteOutboxChanged(): boolean;
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
  const cursorsOf = async (): Promise<Canonical[]> =>
    (await state.bulkGet(o.tableList.map((t) => stateKey.cursor(o.user(), t)))).map(
      (row) => (row?.value as Canonical | undefined) ?? EPOCH,
    );
  /**
   * Cursors read at the start of the run (the prelude), until this engine moves one: a push's
   * answer moves them all, a pulled table its own.
   */
  let known: Map<string, Canonical> | null = null;

  /**
   * What every run starts from, in one read transaction: the clientId, whether records wait
   * unsyncable, the first batch of the outbox and the cursors. One by one they were four
   * IndexedDB round trips before a lone write's push (or the other device's pull) could leave.
   */
  function readPrelude() {
    // Outside any transaction the caller's zone may hold (as countPending in client.ts).
    return (o.db.constructor as typeof Dexie).ignoreTransaction(() =>
      o.db.transaction('r', [OUTBOX_TABLE, STATE_TABLE], () =>
        Promise.all([
          state.get(stateKey.clientId),
          countBlocked(o.db),
          outbox.where(':id').above(0).limit(o.pushBatchSize).toArray(),
          cursorsOf(),
        ]),
      ),
    );
  }

  /**
   * `pending` is owed a recount: a full batch was acknowledged, or the outbox changed while
   * pushing (see applyPushResponse and `noteOutboxChanged`).
   */
  let recountOwed = false;
  let pushing = false;

  async function pushAll(signal: AbortSignal, first?: OutboxRow[]): Promise<boolean> {
    let needPull = false;
    let prefetched = first;
    pushing = true;
    try {
      // Every row up to `after` has been pushed in this loop (acknowledged or set aside), and
      // new rows get higher seqs: the next batch is read from there, not from the start of the
      // store, where the deleted rows of a draining backlog lie (IndexedDB skips them one by one).
      let after = 0;
      for (;;) {
        const rows = prefetched ?? (await outbox.where(':id').above(after).limit(o.pushBatchSize).toArray());
        prefetched = undefined;
        if (rows.length === 0) return needPull;
        if (await pushRows(rows, signal)) needPull = true;
        after = rows[rows.length - 1]!.seq!;
      }
    } finally {
      pushing = false;
      if (recountOwed) {
        recountOwed = false;
        await o.onOutboxChanged();
      }
    }
  }

  /**
   * Pushes rows; returns the answer's hasMore. A push the server refuses for good names the
   * change at fault (`changes.N…`), which is set aside and the rest pushed again; a refusal
   * naming none (413) is narrowed down by halves to the change at fault. So one bad change
   * never holds back the queue behind it.
   */
  async function pushRows(rows: OutboxRow[], signal: AbortSignal): Promise<boolean> {
    const changes = coalesce(rows);
    const cursors =
      known && known.size === o.tableList.length ? o.tableList.map((t) => known!.get(t)!) : await cursorsOf(); // one read for all tables, not a transaction each
    // The response holds every record after `since`, so every table is caught up to its
    // syncedUntil once it is applied: since = the oldest cursor keeps that true for all.
    const since = [...cursors].sort()[0] ?? EPOCH;
    try {
      const res = await o.transport.push({ clientId, since, changes }, signal);
      await applyPushResponse(rows, cursors, res);
      lastPushOkAt = Date.now();
      return res.hasMore;
    } catch (err) {
      const fault = refusal(err);
      if (fault === null) throw err;
      const groups = byRecord(rows, changes);
      let index = fault.index;
      if (index === undefined || index >= changes.length) index = changes.length === 1 ? 0 : undefined;
      if (index !== undefined) {
        await refuse(changes[index]!, groups[index]!, err as TransportError);
        const rest = groups.flatMap((g, i) => (i === index ? [] : g)).sort((a, b) => a.seq! - b.seq!);
        return rest.length > 0 ? pushRows(rest, signal) : false;
      }
      const half = Math.ceil(groups.length / 2);
      const first = await pushRows(groups.slice(0, half).flat(), signal);
      const second = await pushRows(groups.slice(half).flat(), signal);
      return first || second;
    }
  }

  async function refuse(change: Change, rows: OutboxRow[], err: TransportError) {
    const refused = await setAside(o.db, change, rows, { code: err.code, message: err.message });
    await o.onOutboxChanged();
    o.onRefused(refused);
  }

  async function applyPushResponse(rows: OutboxRow[], cursors: Canonical[], res: PushResponse) {
    const until = (canonicalize(res.syncedUntil) ?? res.syncedUntil) as Canonical;
    known = null;
    const moved: StateRow[] = [];
    o.tableList.forEach((table, i) => {
      if (until > cursors[i]!) moved.push({ key: stateKey.cursor(o.user(), table), value: until });
    });
    const sent = new Set(rows.map((r) => recordKey(r.table, r.id)));
    const conflicts = res.conflicts.filter((c) => sent.has(recordKey(c.table, c.id)));
    const overwritten = await applyServerChanges(o, {
      changes: res.serverChanges,
      conflicts,
      acknowledged: rows.map((r) => r.seq!),
      acknowledgedRows: rows,
      state: moved,
    });
    // Counting the outbox walks all of it: while a backlog drains batch by batch, `pending` is
    // recounted when the drain ends (a short batch, or an empty outbox), not after every push.
    if (rows.length < o.pushBatchSize) {
      recountOwed = false;
      await o.onOutboxChanged();
    } else recountOwed = true;
    for (const c of overwritten) o.onConflict(c);
    for (const c of conflicts) {
      // Servers write these with 3 or 6 fractional digits: the app sees one form.
      const clientUpdatedAt = canonicalize(c.clientUpdatedAt) ?? c.clientUpdatedAt;
      const serverUpdatedAt = canonicalize(c.serverUpdatedAt) ?? c.serverUpdatedAt;
      // Records that existed before sync was attached merge under the server's data by design.
      if (clientUpdatedAt === ADOPTION_TIMESTAMP) continue;
      // The app sees its own kind of values (a Date, a Map…), not their wire encoding.
      const { clientType, serverType, ...rest } = c;
      const clientValue = decodeValue(c.clientValue, clientType);
      const serverValue = decodeValue(c.serverValue, serverType);
      o.onConflict({
        ...rest,
        clientValue,
        serverValue,
        clientUpdatedAt,
        serverUpdatedAt,
        localValue: clientValue,
      });
    }
  }

  async function pullTable(table: string, signal: AbortSignal) {
    let since = known?.get(table) ?? (await cursorOf(table));
    known?.delete(table);
    for (;;) {
      const res = await o.transport.pull(table, since, o.pullLimit, clientId, signal);
      // Reading and checking a page is one task, applying it another: neither blocks the page
      // for long (Chromium's long tasks).
      await yieldToHost();
      const until = (canonicalize(res.syncedUntil) ?? res.syncedUntil) as Canonical;
      const overwritten = await applyServerChanges(o, {
        changes: res.serverChanges,
        state: until > since ? [{ key: stateKey.cursor(o.user(), table), value: until }] : [],
      });
      for (const c of overwritten) o.onConflict(c);
      since = until;
      if (!res.hasMore) return;
      // A long first sync must not hold back what the user writes meanwhile.
      if (wantPush) {
        wantPush = false;
        if (await pushAll(signal)) needPullAll = true;
        since = await cursorOf(table); // the push response may have moved it
      }
      // Let the page breathe between pages of a large first sync.
      await yieldToHost();
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
      // Asked before the status is published: the status row's write (a readwrite transaction
      // on the state table) would otherwise go first and hold the reads back.
      const prelude = readPrelude();
      o.send('syncStarted');
      try {
        const [storedId, blocked, rows, cursors] = await prelude;
        clientId = typeof storedId?.value === 'string' ? storedId.value : await ensureClientId(o.db);
        known = new Map(o.tableList.map((t, i) => [t, cursors[i]!]));
        let first: OutboxRow[] | undefined = rows;
        // Records found unsyncable that the app has fixed (queued now: the outbox is read again)
        // or deleted since; the recount comes when the push loop ends, so a write goes out
        // without waiting for it.
        if (blocked > 0) {
          await recheckBlocked(o.db, o.tableList);
          first = undefined;
        }
        recountOwed = true;
        const tables = (await pushAll(controller.signal, first)) ? o.tableList : [...pull];
        needPullAll = false;
        for (const table of tables) await pullTable(table, controller.signal);
        if (needPullAll) for (const table of o.tableList) await pullTable(table, controller.signal);
        o.backoff.reset();
        const heldBack = await heldBackProblem(o.db);
        if (heldBack) o.send('syncIncomplete', heldBack);
        else o.send('syncSucceeded', null);
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

  /**
   * A push refused for good because of its content: 4xx other than 401/408/429 (those are
   * retried or re-authenticated in transport.ts), naming a change or no part at all. A refusal
   * naming another part of the request (`clientId`, `schemaVersion`) or no route (404, 405: a
   * wrong url) is the request's fault, not a change's: status error as before.
   */
  function refusal(err: unknown): { index?: number } | null {
    if (!(err instanceof TransportError) || err.kind !== 'rejected') return null;
    if (err.code === 'NOT_FOUND' || err.code === 'METHOD_NOT_ALLOWED') return null;
    if (err.path === undefined) return {};
    const m = /^changes\.(\d+)(?:\.|$)/.exec(err.path);
    return m ? { index: Number(m[1]) } : null;
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
    noteOutboxChanged() {
      if (pushing) recountOwed = true;
      return pushing;
    },
    dispose() {
      disposed = true;
      clearTimeout(retryTimer);
      abortReason = 'stopped';
      controller?.abort();
    },
  };
}

/** The outbox rows of each change, in the order of `coalesce`'s changes (first row of each record). */
function byRecord(rows: readonly OutboxRow[], changes: readonly Change[]): OutboxRow[][] {
  const groups = new Map<string, OutboxRow[]>(changes.map((c) => [recordKey(c.table, c.id), []]));
  for (const row of rows) groups.get(recordKey(row.table, row.id))!.push(row);
  return [...groups.values()];
}
