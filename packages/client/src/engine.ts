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
import {
  createMachine,
  LOOP_TRANSITIONS,
  type LoopEvent,
  type LoopState,
  type Transition,
} from './loop-machine.js';
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
  /** Every move of the loop's state (loop-machine.ts): for tests and debugging. */
  onLoopTransition?(t: Transition<LoopState, LoopEvent>): void;
}

export interface SyncRequest {
  push?: boolean;
  pull?: readonly string[] | 'all';
}

export interface Engine {
  request(r: SyncRequest): Promise<void>;
  /** Aborts the request in flight (stall recovery); the run fails and retries. */
  abort(reason: 'stalled' | 'offline'): void;
  /** Date.now() of the last push the server acknowledged. */
  readonly lastPushOkAt: number;
  /** The loop's control state (loop-machine.ts). */
  readonly loop: LoopState;
  /**
   * The outbox changed (another tab's write, or this engine's own acknowledgement): true when
   * the push loop takes it (it rereads the outbox and recounts when it ends), false when the
   * caller should recount now.
   */
  noteOutboxChanged(): boolean;
  dispose(): void;
}

type AbortReason = 'stalled' | 'offline';

/** What one pass of a run reads at its start and carries to its end. */
interface Pass {
  readonly controller: AbortController;
  /** Set by abort(): decides what the pass's failure leads to (a retry, or waiting for `online`). */
  abortReason: AbortReason | null;
  /** This device's id for the pass (client-id.ts): the server's echo key. */
  clientId: string;
  /**
   * Cursors read at the start of the pass (the prelude), until the pass moves one: a push's
   * answer moves them all, a pulled table its own.
   */
  known: Map<string, Canonical> | null;
  /** A push answered `hasMore` during a pull: every table needs a pull afterwards. */
  needPullAll: boolean;
  /**
   * `pending` is owed a recount: a full batch was acknowledged, or the outbox changed while
   * pushing (see applyPushResponse and `noteOutboxChanged`).
   */
  recountOwed: boolean;
}

export function createEngine(o: EngineOptions): Engine {
  const outbox = o.db.table<OutboxRow, number>(OUTBOX_TABLE);
  const state = o.db.table<StateRow, string>(STATE_TABLE);
  const loop = createMachine(LOOP_TRANSITIONS, 'idle', o.onLoopTransition);
  /** What the loop is asked to do next; each pass takes all of it. */
  let wanted = { push: false, pull: new Set<string>() };
  const asked = () => wanted.push || wanted.pull.size > 0;
  let pass: Pass | null = null;
  /** The run in flight (or the last one), for callers to await. */
  let running: Promise<void> = Promise.resolve();
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let lastPushOkAt = 0;

  const cursorOf = async (table: string): Promise<Canonical> =>
    ((await state.get(stateKey.cursor(o.user(), table)))?.value as Canonical | undefined) ?? EPOCH;
  const cursorsOf = async (): Promise<Canonical[]> =>
    (await state.bulkGet(o.tableList.map((t) => stateKey.cursor(o.user(), t)))).map(
      (row) => (row?.value as Canonical | undefined) ?? EPOCH,
    );

  /**
   * What every run starts from, in one read transaction: the clientId, whether records wait
   * unsyncable, the first batch of the outbox and the cursors. One by one they were four
   * IndexedDB round trips before a lone write's push (or the other device's pull) could leave.
   */
  function readPrelude() {
    // Outside any transaction the caller's zone may hold (as the pending count in tab-state.ts).
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

  /** Pushes the outbox in batches (the loop is `pushing`), then moves on to `pulling`. */
  async function pushAll(p: Pass, first?: OutboxRow[]): Promise<boolean> {
    let needPull = false;
    let prefetched = first;
    try {
      // Every row up to `after` has been pushed in this loop (acknowledged or set aside), and
      // new rows get higher seqs: the next batch is read from there, not from the start of the
      // store, where the deleted rows of a draining backlog lie (IndexedDB skips them one by one).
      let after = 0;
      for (;;) {
        const rows = prefetched ?? (await outbox.where(':id').above(after).limit(o.pushBatchSize).toArray());
        prefetched = undefined;
        if (rows.length === 0) break;
        if (await pushRows(p, rows)) needPull = true;
        after = rows[rows.length - 1]!.seq!;
      }
    } finally {
      // Still `pushing`: an outbox change during this recount is owed another.
      while (p.recountOwed) {
        p.recountOwed = false;
        await o.onOutboxChanged();
      }
    }
    loop.send('pushed');
    return needPull;
  }

  /**
   * Pushes rows; returns the answer's hasMore. A push the server refuses for good names the
   * change at fault (`changes.N…`), which is set aside and the rest pushed again; a refusal
   * naming none (413) is narrowed down by halves to the change at fault. So one bad change
   * never holds back the queue behind it.
   */
  async function pushRows(p: Pass, rows: OutboxRow[]): Promise<boolean> {
    const changes = coalesce(rows);
    const known = p.known;
    const cursors =
      known && known.size === o.tableList.length ? o.tableList.map((t) => known.get(t)!) : await cursorsOf(); // one read for all tables, not a transaction each
    // The response holds every record after `since`, so every table is caught up to its
    // syncedUntil once it is applied: since = the oldest cursor keeps that true for all.
    const since = [...cursors].sort()[0] ?? EPOCH;
    try {
      const res = await o.transport.push({ clientId: p.clientId, since, changes }, p.controller.signal);
      await applyPushResponse(p, rows, cursors, res);
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
        return rest.length > 0 ? pushRows(p, rest) : false;
      }
      const half = Math.ceil(groups.length / 2);
      const first = await pushRows(p, groups.slice(0, half).flat());
      const second = await pushRows(p, groups.slice(half).flat());
      return first || second;
    }
  }

  async function refuse(change: Change, rows: OutboxRow[], err: TransportError) {
    const refused = await setAside(o.db, change, rows, { code: err.code, message: err.message });
    await o.onOutboxChanged();
    o.onRefused(refused);
  }

  async function applyPushResponse(p: Pass, rows: OutboxRow[], cursors: Canonical[], res: PushResponse) {
    const until = (canonicalize(res.syncedUntil) ?? res.syncedUntil) as Canonical;
    p.known = null;
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
      p.recountOwed = false;
      await o.onOutboxChanged();
    } else p.recountOwed = true;
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

  async function pullTable(p: Pass, table: string) {
    const signal = p.controller.signal;
    let since = p.known?.get(table) ?? (await cursorOf(table));
    p.known?.delete(table);
    for (;;) {
      const res = await o.transport.pull(table, since, o.pullLimit, p.clientId, signal);
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
      if (wanted.push) {
        wanted.push = false;
        loop.send('pushWanted');
        if (await pushAll(p)) p.needPullAll = true;
        since = await cursorOf(table); // the push response may have moved it
      }
      // Let the page breathe between pages of a large first sync.
      await yieldToHost();
      if (signal.aborted) throw new TransportError('retry', 'NETWORK', 'aborted');
    }
  }

  /** One run: passes while something is asked (the loop entered `pushing` to start it). */
  async function run(): Promise<void> {
    for (;;) {
      const pull = wanted.pull;
      wanted = { push: false, pull: new Set() };
      const p: Pass = {
        controller: new AbortController(),
        abortReason: null,
        clientId: '',
        known: null,
        needPullAll: false,
        recountOwed: false,
      };
      pass = p;
      // Asked before the status is published: the status row's write (a readwrite transaction
      // on the state table) would otherwise go first and hold the reads back.
      const prelude = readPrelude();
      o.send('syncStarted');
      try {
        const [storedId, blocked, rows, cursors] = await prelude;
        p.clientId = typeof storedId?.value === 'string' ? storedId.value : await ensureClientId(o.db);
        p.known = new Map(o.tableList.map((t, i) => [t, cursors[i]!]));
        let first: OutboxRow[] | undefined = rows;
        // Records found unsyncable that the app has fixed (queued now: the outbox is read again)
        // or deleted since; the recount comes when the push loop ends, so a write goes out
        // without waiting for it.
        if (blocked > 0) {
          await recheckBlocked(o.db, o.tableList);
          first = undefined;
        }
        p.recountOwed = true;
        const tables = (await pushAll(p, first)) ? o.tableList : [...pull];
        for (const table of tables) await pullTable(p, table);
        if (p.needPullAll) for (const table of o.tableList) await pullTable(p, table);
        o.backoff.reset();
        const heldBack = await heldBackProblem(o.db);
        if (heldBack) o.send('syncIncomplete', heldBack);
        else o.send('syncSucceeded', null);
        o.onSynced();
      } catch (err) {
        fail(p, err);
        // An outbox change noted before the failure was owed a recount by this pass.
        if (p.recountOwed) void o.onOutboxChanged();
        return;
      } finally {
        pass = null;
      }
      // Disposed during the pass: the table takes neither event, and the run ends.
      if (!loop.send(asked() ? 'passAgain' : 'passDone') || loop.state === 'idle') return;
    }
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

  /** What a failed pass leads to: a status event, and `waiting` (a retry timer) or `halted`. */
  function fail(p: Pass, err: unknown) {
    if (loop.state === 'disposed') return;
    const at = Date.now();
    if (p.abortReason === 'stalled') {
      // Status already says STALLED; try again soon on a fresh connection.
      return retryIn(o.backoff.next());
    }
    if (p.abortReason === 'offline') return void loop.send('failedHalt'); // the online event brings us back
    if (err instanceof AuthRefusedError) {
      o.send('authRefused', { code: 'AUTH_REFUSED', message: err.message, at });
      return void loop.send('failedHalt'); // the app must sign in again (then sync() or start())
    }
    if (err instanceof TransportError) {
      if (err.kind === 'rejected') {
        o.send('rejected', { code: err.code, message: err.message, at });
        return void loop.send('failedHalt'); // the next write or sync() tries again
      }
      o.send(err.code === 'NETWORK' ? 'networkFailed' : 'serverFailed', {
        code: err.code,
        message: err.message,
        at,
      });
      return retryIn(Math.max(err.retryAfterMs ?? 0, o.backoff.next()));
    }
    o.send('serverFailed', { code: 'INTERNAL', message: String((err as Error)?.message ?? err), at });
    retryIn(o.backoff.next());
  }

  function retryIn(delayMs: number) {
    loop.send('failedRetry');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (!loop.send('retryDue')) return;
      ask({ push: true, pull: 'all' });
      startRun();
    }, delayMs);
  }

  function startRun() {
    clearTimeout(retryTimer);
    running = run();
  }

  function ask(r: SyncRequest) {
    if (r.push) wanted.push = true;
    const tables = r.pull === 'all' ? o.tableList : (r.pull ?? []).filter((t) => o.tables.has(t));
    for (const t of tables) wanted.pull.add(t);
  }

  function request(r: SyncRequest): Promise<void> {
    if (loop.state === 'disposed') return Promise.resolve();
    ask(r);
    if (!asked()) return running;
    const before = loop.state;
    loop.send('requested');
    // A run in flight serves it with its next pass; else a run starts now.
    if (before !== 'pushing' && before !== 'pulling') startRun();
    return running;
  }

  return {
    request,
    abort(reason) {
      if (!pass) return;
      pass.abortReason = reason;
      pass.controller.abort();
    },
    get lastPushOkAt() {
      return lastPushOkAt;
    },
    get loop() {
      return loop.state;
    },
    noteOutboxChanged() {
      if (loop.state !== 'pushing' || !pass) return false;
      pass.recountOwed = true;
      return true;
    },
    dispose() {
      loop.send('dispose');
      clearTimeout(retryTimer);
      pass?.controller.abort();
    },
  };
}

/** The outbox rows of each change, in the order of `coalesce`'s changes (first row of each record). */
function byRecord(rows: readonly OutboxRow[], changes: readonly Change[]): OutboxRow[][] {
  const groups = new Map<string, OutboxRow[]>(changes.map((c) => [recordKey(c.table, c.id), []]));
  for (const row of rows) groups.get(recordKey(row.table, row.id))!.push(row);
  return [...groups.values()];
}
