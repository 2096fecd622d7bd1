import { tableNameSchema } from '@mana/sync-protocol';
import type { Dexie, ObservabilitySet } from 'dexie';
import { adoptExistingRecords } from './adopt.js';
import { createTokenSource } from './auth.js';
import { createBackoff } from './backoff.js';
import { captureMiddleware } from './capture.js';
import { ensureClientId } from './client-id.js';
import type {
  PendingChange,
  StopOptions,
  StopReport,
  SyncClient,
  SyncClientOptions,
} from './client-types.js';
import { createClock } from './clock.js';
import { createEngine, type Engine } from './engine.js';
import {
  blockedChanges,
  countBlocked,
  discardRefused,
  HELD_BACK_PREFIXES,
  recheckBlocked,
  refusedAsPending,
  refusedChanges,
} from './held-back.js';
import { electLeader, type Leadership } from './leader.js';
import { mayHoldKeys } from './mutated.js';
import { DEFAULTS, resolveOptions } from './options.js';
import { coalesce } from './outbox.js';
import { ACK_PREFIX } from './overwrites.js';
import { createRealtime, type Realtime, type WebSocketConstructor } from './realtime.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow, stateKey } from './schema.js';
import { type SyncEvent, type SyncState, transition } from './state-machine.js';
import { Emitter, type SyncErrorInfo, type SyncEvents, type SyncStatus } from './status.js';
import { createTransport } from './transport.js';

export type { PendingChange, StopOptions, StopReport, SyncClient, SyncClientOptions };

/** Node before 22 has no WebSocket: said once per process, not once per client. */
let warnedNoWebSocket = false;

/**
 * Attaches sync to a Dexie database. Call before `db.open()` (or the first query): the
 * change-capture middleware must be in place before the first write.
 */
export function createSyncClient(db: Dexie, options: SyncClientOptions): SyncClient {
  const opts = resolveOptions(options);
  if (db.isOpen()) throw new TypeError('createSyncClient: call it before the database is opened');
  if (!/^https?:\/\//.test(opts.url))
    throw new TypeError(`createSyncClient: url must be http(s), got ${opts.url}`);
  if (opts.tables.length === 0) throw new TypeError('createSyncClient: tables is empty');
  for (const t of opts.tables) {
    if (!tableNameSchema.safeParse(t).success) throw new TypeError(`createSyncClient: bad table name ${t}`);
  }
  if (opts.WebSocket === undefined && typeof globalThis.WebSocket !== 'function' && !warnedNoWebSocket) {
    warnedNoWebSocket = true;
    console.warn(
      '[mana-sync] no WebSocket here (Node before 22?): changes from other devices arrive only with ' +
        "the periodic pull. Pass `WebSocket` (e.g. from the 'ws' package), or `WebSocket: null` to silence this.",
    );
  }
  const tables = new Set(opts.tables);
  const untracked = new WeakSet<object>();
  const clock = createClock();
  // The app's own Dexie class (its global events, its zones), whichever copy this module loaded.
  const DexieClass = db.constructor as typeof Dexie;
  db.use(
    captureMiddleware({
      tables,
      clock,
      untracked,
      // This tab just queued a write: push now, recount alongside. The push takes the rows up to
      // `lastSeq`, so the recount pushes only for rows beyond them (another tab's): for its own
      // write it would start a second, empty pass of the sync run.
      onQueued: (lastSeq) => {
        seenSeq = Math.max(seenSeq, lastSeq);
        schedulePush();
        void refreshPending();
      },
      waitFor: (promise) => DexieClass.waitFor(promise),
    }),
  );

  /** For the WebSocket's auth message; the sync loop reads its own per run (client-id.ts). */
  let clientId = '';
  db.on(
    'ready',
    async () => {
      for (const name of [OUTBOX_TABLE, STATE_TABLE, ...opts.tables]) {
        if (!db.tables.some((t) => t.name === name)) {
          throw new TypeError(
            `mana-sync: table ${name} is missing; add ...syncStores to db.version().stores()`,
          );
        }
      }
      for (const name of opts.tables) {
        if (db.table(name).schema.primKey.keyPath !== 'id') {
          throw new TypeError(`mana-sync: table ${name} must have the primary key "id"`);
        }
      }
      await adoptExistingRecords(db, opts.tables);
    },
    true,
  );

  const emitter = new Emitter<SyncEvents>();
  const status: SyncStatus = {
    state: 'idle',
    pending: 0,
    lastSyncAt: null,
    lastError: null,
    isLeader: false,
    realtime: false,
  };
  const tabId = `t-${crypto.randomUUID()}`;
  const stallMs = opts.stallTimeoutMs;
  const tokens = createTokenSource(opts.getToken, opts.tokenRefreshMarginMs);

  let started = false;
  let leadership: Leadership | null = null;
  let engine: Engine | null = null;
  let realtime: Realtime | null = null;
  let leaderTimers: Array<ReturnType<typeof setInterval>> = [];
  let leaderCleanup: Array<() => void> = [];
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let firstUnpushedAt = 0;
  let connectedSince = 0;

  let lastShared = '';
  function publish() {
    emitter.emit('status', { ...status });
    if (!status.isLeader) return;
    // Followers mirror the leader's state through IndexedDB; write only when it changed.
    const { state, lastSyncAt, lastError } = status;
    const shared = JSON.stringify({ state, lastSyncAt, lastError });
    if (shared === lastShared) return;
    lastShared = shared;
    void db
      .table(STATE_TABLE)
      .put({ key: stateKey.status, value: { state, lastSyncAt, lastError } })
      .catch(() => {});
  }

  function send(event: SyncEvent, error?: SyncErrorInfo | null) {
    const before = status.state;
    const after = transition(before, event);
    if (error !== undefined && after !== 'idle') status.lastError = error;
    const finished = event === 'syncSucceeded' || event === 'syncIncomplete';
    if (finished && after !== 'idle') status.lastSyncAt = Date.now();
    const connected = (s: SyncState) => s === 'syncing' || s === 'synced';
    if (connected(after) && !connected(before)) connectedSince = Date.now();
    status.state = after;
    if (before !== after || error !== undefined || finished) publish();
  }

  const authRefused = () => status.state === 'error' && status.lastError?.code === 'AUTH_REFUSED';
  const outbox = () => db.table<OutboxRow, number>(OUTBOX_TABLE);

  /**
   * Recounts `pending` and schedules a push when the outbox holds rows not seen before. Called
   * by this tab's capture once a write commits, by the sync loop after it acknowledged or set
   * aside rows, and by Dexie's `storagemutated` event for other tabs' writes. No liveQuery: it
   * needs a global `indexedDB`, so it stays silent in Node and with Dexie's `indexedDB` option.
   */
  let seenSeq = 0;
  /** Counts run one after another, so each applies in order and awaiting one means it applied. */
  let counting: Promise<void> = Promise.resolve();
  function refreshPending(): Promise<void> {
    counting = counting.then(countPending, countPending);
    return counting;
  }
  async function countPending() {
    if (!started) return;
    let counted: { rows: number; blocked: number; last: number };
    try {
      counted = await DexieClass.ignoreTransaction(() =>
        db.transaction('r', [OUTBOX_TABLE, STATE_TABLE], async () => ({
          rows: await outbox().count(),
          blocked: await countBlocked(db),
          last: (await outbox().orderBy('seq').last())?.seq ?? 0,
        })),
      );
    } catch {
      return; // the database is closing
    }
    if (!started) return;
    if (counted.last > seenSeq && counted.rows > 0) schedulePush();
    seenSeq = Math.max(seenSeq, counted.last);
    const pending = counted.rows + counted.blocked;
    if (pending !== status.pending) {
      status.pending = pending;
      publish();
    }
  }

  /** Other tabs' writes to the shared tables: the outbox (pending), the state (status, sync requests). */
  let lastSyncRequest: unknown;
  async function readSharedState() {
    if (!started) return;
    let rows: Array<StateRow | undefined>;
    try {
      rows = await DexieClass.ignoreTransaction(() =>
        db.table<StateRow, string>(STATE_TABLE).bulkGet([stateKey.status, stateKey.syncRequest]),
      );
    } catch {
      return;
    }
    const [shared, request] = rows;
    // Followers show the leader's status.
    if (shared && !status.isLeader) {
      Object.assign(status, shared.value as Partial<SyncStatus>);
      publish();
    }
    // A follower's sync() asks the leader through a state row.
    if (engine && request && request.value !== lastSyncRequest) {
      lastSyncRequest = request.value;
      void engine.request({ push: true, pull: 'all' });
    }
  }

  const onStorageMutated = (parts: ObservabilitySet) => {
    const touched = (table: string) => {
      const prefix = `idb://${db.name}/${table}/`;
      return Object.keys(parts).some((k) => k === 'all' || k.startsWith(prefix));
    };
    // While the leader pushes, its loop takes the change (counting the outbox walks all of it,
    // and every acknowledged batch changes it).
    if (touched(OUTBOX_TABLE) && !engine?.noteOutboxChanged()) void refreshPending();
    // Only writes that may hold the shared rows: not the leader's own cursors and ack entries.
    const state = `idb://${db.name}/${STATE_TABLE}/`;
    if (mayHoldKeys(parts, state, [stateKey.status, stateKey.syncRequest])) void readSharedState();
  };

  /**
   * A write goes out at once: the engine pushes now when no push is in flight, else it marks
   * the outbox for another pass, which sends everything written meanwhile in one push (bursts
   * batch by themselves). `pushDebounceMs` > 0 waits for quiet time instead.
   */
  function schedulePush() {
    if (!engine || authRefused()) return;
    const debounceMs = opts.pushDebounceMs;
    if (debounceMs <= 0) {
      void engine.request({ push: true });
      return;
    }
    const now = Date.now();
    if (firstUnpushedAt === 0) firstUnpushedAt = now;
    const wait = Math.min(debounceMs, Math.max(0, firstUnpushedAt + opts.pushMaxWaitMs - now));
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      firstUnpushedAt = 0;
      void engine?.request({ push: true });
    }, wait);
  }

  async function checkStall() {
    if (!engine || (status.state !== 'syncing' && status.state !== 'synced')) return;
    const oldest = await db.table<OutboxRow, number>(OUTBOX_TABLE).orderBy('seq').first();
    if (!oldest) return;
    const since = Math.max(oldest.at, connectedSince, engine.lastPushOkAt);
    if (Date.now() - since <= stallMs) return;
    send('stalled', {
      code: 'STALLED',
      message: `${status.pending} pending change(s) unsent for ${Math.round((Date.now() - since) / 1000)} s while connected; reconnecting`,
      at: Date.now(),
    });
    engine.abort('stalled');
    realtime?.reconnect();
  }

  function lead() {
    lastShared = '';
    const engineRef = createEngine({
      db,
      tables,
      tableList: opts.tables,
      untracked,
      user: () => tokens.subject(),
      transport: createTransport({
        url: opts.url,
        appId: opts.appId,
        tokens,
        fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
        timeoutMs: opts.requestTimeoutMs,
      }),
      backoff: createBackoff(opts.retryBackoff),
      pushBatchSize: opts.pushBatchSize,
      pullLimit: opts.pullLimit,
      send,
      onConflict: (c) => emitter.emit('conflict', c),
      onRefused: (c) => emitter.emit('refused', c),
      onOutboxChanged: refreshPending,
      // After an auth error the socket stays down until a sync succeeds again.
      onSynced: () => realtime?.start(),
    });
    engine = engineRef;
    const WS =
      opts.WebSocket === undefined
        ? (globalThis.WebSocket as WebSocketConstructor | undefined)
        : opts.WebSocket;
    if (WS) {
      realtime = createRealtime({
        url: opts.url,
        appId: opts.appId,
        clientId,
        tokens,
        WebSocket: WS,
        onSyncAvailable: (t) => void engineRef.request({ pull: t }),
        onConnected: () => {
          status.realtime = true;
          void engineRef.request({ push: true, pull: 'all' });
        },
        onDisconnected: () => {
          status.realtime = false;
          publish();
        },
        onAuthRefused: (message) => {
          status.realtime = false;
          send('authRefused', { code: 'AUTH_REFUSED', message, at: Date.now() });
        },
      });
    }
    send('start');
    leaderTimers = [
      setInterval(() => {
        if (!authRefused()) void engineRef.request({ push: true, pull: 'all' });
      }, opts.pullIntervalMs),
      setInterval(
        () => void checkStall().catch(() => {}),
        Math.max(50, Math.min(5000, Math.floor(stallMs / 4))),
      ),
    ];
    void readSharedState();
    const win = globalThis as {
      addEventListener?: typeof addEventListener;
      removeEventListener?: typeof removeEventListener;
    };
    if (typeof win.addEventListener === 'function') {
      const offline = () => {
        send('wentOffline', { code: 'NETWORK', message: 'the browser is offline', at: Date.now() });
        engineRef.abort('offline');
        realtime?.stop();
      };
      const online = () => {
        send('cameOnline');
        realtime?.start();
        void engineRef.request({ push: true, pull: 'all' });
      };
      win.addEventListener('offline', offline);
      win.addEventListener('online', online);
      leaderCleanup.push(() => {
        win.removeEventListener?.('offline', offline);
        win.removeEventListener?.('online', online);
      });
    }
    realtime?.start();
    void engineRef.request({ push: true, pull: 'all' });
  }

  function unlead() {
    engine?.dispose();
    engine = null;
    realtime?.stop();
    realtime = null;
    status.realtime = false;
    for (const t of leaderTimers) clearInterval(t);
    leaderTimers = [];
    for (const fn of leaderCleanup) fn();
    leaderCleanup = [];
    clearTimeout(debounce);
  }

  async function pendingChanges(): Promise<PendingChange[]> {
    const rows = await outbox().orderBy('seq').toArray();
    const queued: PendingChange[] = coalesce(rows).map((c) => ({
      table: c.table,
      id: c.id,
      op: c.op,
      fields: Object.keys(c.fields ?? {}),
    }));
    return [...queued, ...(await blockedChanges(db))];
  }

  /**
   * Pushes what was queued when stop() was called: read from the outbox itself, never from
   * `status.pending` (recounted a moment after a write commits). A follower tab asks the
   * leader and waits for those rows to go.
   */
  async function flushOutbox(timeoutMs: number) {
    const last = (await outbox().orderBy('seq').last())?.seq;
    if (last === undefined) return;
    const deadline = Date.now() + timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise((r) => {
      timer = setTimeout(r, timeoutMs);
    });
    try {
      if (engine) {
        await Promise.race([engine.request({ push: true }), timeout]);
        return;
      }
      await db.table(STATE_TABLE).put({ key: stateKey.syncRequest, value: Date.now() });
      while (Date.now() < deadline && (await outbox().where('seq').belowOrEqual(last).count()) > 0) {
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    get status() {
      return { ...status };
    },
    on: (event, fn) => emitter.on(event, fn),
    async start() {
      if (started) return;
      started = true;
      await db.open();
      clientId = await ensureClientId(db);
      DexieClass.on('storagemutated', onStorageMutated);
      seenSeq = 0;
      lastSyncRequest = undefined;
      // Records that cannot be uploaded are told once per start (adopt.ts found them).
      for (const e of await recheckBlocked(db, opts.tables)) emitter.emit('unsyncable', e);
      void refreshPending();
      void readSharedState();
      leadership = electLeader({
        db,
        tabId,
        useWebLocks: opts.multiTab !== 'lease',
        leaseMs: opts.leaderLeaseMs,
        onChange(isLeader) {
          status.isLeader = isLeader;
          if (isLeader) lead();
          else unlead();
          publish();
        },
      });
      if (opts.multiTab === 'off') {
        await leadership.release();
        status.isLeader = true;
        lead();
      }
    },
    async sync() {
      if (!started) throw new Error('sync(): call start() first');
      if (engine) {
        if (authRefused()) send('syncStarted');
        await engine.request({ push: true, pull: 'all' });
      } else {
        await db.table(STATE_TABLE).put({ key: stateKey.syncRequest, value: Date.now() });
      }
      return { ...status };
    },
    async stop(stopOpts = {}) {
      const {
        flush = true,
        flushTimeoutMs = DEFAULTS.flushTimeoutMs,
        clearLocalData = false,
        discardUnsynced = false,
      } = stopOpts;
      if (started && flush && !authRefused()) await flushOutbox(flushTimeoutMs);
      DexieClass.on('storagemutated').unsubscribe(onStorageMutated);
      unlead();
      await leadership?.release();
      leadership = null;
      started = false;
      // Read and cleared in one transaction: nothing written in between is cleared unreported.
      const scope = [...opts.tables, OUTBOX_TABLE, STATE_TABLE];
      let cleared = false;
      const unsynced = await db.transaction(clearLocalData ? 'rw' : 'r', scope, async (tx) => {
        const list = [...(await pendingChanges()), ...refusedAsPending(await refusedChanges(db))];
        if (!clearLocalData || (list.length > 0 && !discardUnsynced)) return list;
        untracked.add(tx.idbtrans);
        for (const t of opts.tables) await db.table(t).clear();
        await db.table(OUTBOX_TABLE).clear();
        const state = db.table<StateRow, string>(STATE_TABLE);
        // The clientId goes with the data: the server leaves out of its answers what this id
        // wrote, so keeping it would hide the user's own records from the emptied device.
        const local = ['cursor:', ACK_PREFIX, ...HELD_BACK_PREFIXES];
        await state
          .filter(
            (r) =>
              local.some((p) => r.key.startsWith(p)) ||
              r.key === stateKey.status ||
              r.key === stateKey.clientId,
          )
          .delete();
        cleared = true;
        return list;
      });
      if (cleared) {
        clientId = '';
        status.pending = 0;
      }
      status.isLeader = false;
      send('stop');
      status.lastError = null;
      publish();
      return { unsynced, cleared };
    },
    async restore(conflict) {
      await db.table(conflict.table).update(conflict.id, { [conflict.field]: conflict.localValue });
    },
    pendingChanges,
    refusedChanges: () => refusedChanges(db),
    async discardRefused() {
      await discardRefused(db);
      // The status leaves `error` with the next run that finds nothing held back.
      if (engine) void engine.request({ push: true });
    },
  };
}
