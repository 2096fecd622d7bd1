import { type Canonical, canonicalize } from '@mana/sync-protocol';
import type { Dexie } from 'dexie';
import { applyServerChanges } from './apply.js';
import type { Backoff } from './backoff.js';
import { ensureClientId } from './client-id.js';
import { readCursor, readCursors } from './cursors.js';
import { type AbortReason, afterFailure } from './failure.js';
import { countBlocked, heldBackProblem, recheckBlocked } from './held-back.js';
import {
  createMachine,
  LOOP_TRANSITIONS,
  type LoopEvent,
  type LoopState,
  type Transition,
} from './loop-machine.js';
import { type PushContext, type PushPass, pushBatch } from './push-batch.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow, stateKey } from './schema.js';
import type { SyncEvent } from './state-machine.js';
import type { SyncErrorInfo } from './status.js';
import { TransportError } from './transport.js';
import { yieldToHost } from './yield.js';

/**
 * The leader's sync loop. One run at a time (single flight); requests that arrive during a
 * run are merged and served by another pass of the same run. Its control state is the machine
 * of loop-machine.ts (SPEC.md, "The sync loop").
 *
 *   pass: push the outbox in batches (push-batch.ts) ─▶ pull the wanted tables, page by page
 *          │ failure: failure.ts says what the status is told, and `waiting` (retry) or `halted`
 *          │ a push refused for good (4xx): the refused change is set aside, the rest go on
 *   end: synced, or error when changes are held back (held-back.ts)
 */
export interface EngineOptions extends Omit<PushContext, 'onAcknowledged'> {
  backoff: Backoff;
  pullLimit: number;
  send(event: SyncEvent, error?: SyncErrorInfo | null): void;
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

/** What one pass of a run reads at its start and carries to its end. */
interface Pass extends PushPass {
  /** Set by abort(): decides what the pass's failure leads to (failure.ts). */
  abortReason: AbortReason | null;
  /** A push answered `hasMore` during a pull: every table needs a pull afterwards. */
  needPullAll: boolean;
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

  const pushContext: PushContext = {
    ...o,
    onAcknowledged() {
      lastPushOkAt = Date.now();
    },
  };

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
          readCursors(o.db, o.user(), o.tableList),
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
        if (await pushBatch(pushContext, p, rows)) needPull = true;
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

  async function pullTable(p: Pass, table: string) {
    const signal = p.controller.signal;
    let since = p.known?.get(table) ?? (await readCursor(o.db, o.user(), table));
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
        since = await readCursor(o.db, o.user(), table); // the push response may have moved it
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
        // The browser went offline while the pass did its last local steps: what it fetched is
        // applied, but the status stays `offline` (the `online` event starts the next run).
        if (p.abortReason === 'offline') throw new TransportError('retry', 'NETWORK', 'offline');
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

  /** What a failed pass leads to (failure.ts): a status event, and `waiting` or `halted`. */
  function fail(p: Pass, err: unknown) {
    if (loop.state === 'disposed') return;
    const outcome = afterFailure(err, p.abortReason, Date.now());
    if (outcome.tell) o.send(...outcome.tell);
    if (outcome.next === 'halt') loop.send('failedHalt');
    else retryIn(Math.max(outcome.notBeforeMs, o.backoff.next()));
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
