import { tableNameSchema } from '@mana/sync-protocol';
import { type Dexie, liveQuery, type Subscription } from 'dexie';
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
import { electLeader, type Leadership } from './leader.js';
import { coalesce } from './outbox.js';
import { createRealtime, type Realtime, type WebSocketConstructor } from './realtime.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow, stateKey } from './schema.js';
import { type SyncEvent, type SyncState, transition } from './state-machine.js';
import { Emitter, type SyncErrorInfo, type SyncEvents, type SyncStatus } from './status.js';
import { createTransport } from './transport.js';

export type { PendingChange, StopOptions, StopReport, SyncClient, SyncClientOptions };

/**
 * Attaches sync to a Dexie database. Call before `db.open()` (or the first query): the
 * change-capture middleware must be in place before the first write.
 */
export function createSyncClient(db: Dexie, opts: SyncClientOptions): SyncClient {
  if (db.isOpen()) throw new TypeError('createSyncClient: call it before the database is opened');
  if (!/^https?:\/\//.test(opts.url))
    throw new TypeError(`createSyncClient: url must be http(s), got ${opts.url}`);
  if (opts.tables.length === 0) throw new TypeError('createSyncClient: tables is empty');
  for (const t of opts.tables) {
    if (!tableNameSchema.safeParse(t).success) throw new TypeError(`createSyncClient: bad table name ${t}`);
  }
  const tables = new Set(opts.tables);
  const untracked = new WeakSet<object>();
  const clock = createClock();
  db.use(captureMiddleware({ tables, clock, untracked }));

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
  const stallMs = opts.stallTimeoutMs ?? 30_000;
  const tokens = createTokenSource(opts.getToken, opts.tokenRefreshMarginMs);

  let started = false;
  let leadership: Leadership | null = null;
  let engine: Engine | null = null;
  let realtime: Realtime | null = null;
  const subscriptions: Subscription[] = [];
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
    if (event === 'syncSucceeded' && after === 'synced') status.lastSyncAt = Date.now();
    const connected = (s: SyncState) => s === 'syncing' || s === 'synced';
    if (connected(after) && !connected(before)) connectedSince = Date.now();
    status.state = after;
    if (before !== after || error !== undefined || event === 'syncSucceeded') publish();
  }

  const authRefused = () => status.state === 'error' && status.lastError?.code === 'AUTH_REFUSED';

  function schedulePush() {
    if (!engine || authRefused()) return;
    const now = Date.now();
    if (firstUnpushedAt === 0) firstUnpushedAt = now;
    const debounceMs = opts.pushDebounceMs ?? 1000;
    const wait = Math.min(debounceMs, Math.max(0, firstUnpushedAt + (opts.pushMaxWaitMs ?? 5000) - now));
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
        timeoutMs: opts.requestTimeoutMs ?? 30_000,
      }),
      backoff: createBackoff({ baseMs: 1000, maxMs: 30_000, ...opts.retryBackoff }),
      pushBatchSize: opts.pushBatchSize ?? 500,
      pullLimit: opts.pullLimit ?? 1000,
      send,
      onConflict: (c) => emitter.emit('conflict', c),
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
      }, opts.pullIntervalMs ?? 60_000),
      setInterval(
        () => void checkStall().catch(() => {}),
        Math.max(50, Math.min(5000, Math.floor(stallMs / 4))),
      ),
    ];
    subscriptions.push(
      liveQuery(() => db.table(STATE_TABLE).get(stateKey.syncRequest)).subscribe({
        next: (row) => row && void engineRef.request({ push: true, pull: 'all' }),
        error: () => {},
      }),
    );
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
    const rows = await db.table<OutboxRow, number>(OUTBOX_TABLE).orderBy('seq').toArray();
    return coalesce(rows).map((c) => ({
      table: c.table,
      id: c.id,
      op: c.op,
      fields: Object.keys(c.fields ?? {}),
    }));
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
      subscriptions.push(
        liveQuery(() => db.table(OUTBOX_TABLE).count()).subscribe({
          next: (n) => {
            const grew = n > status.pending;
            status.pending = n;
            if (n > 0 && grew) schedulePush();
            publish();
          },
          error: () => {},
        }),
        // Followers show the leader's status.
        liveQuery(() => db.table(STATE_TABLE).get(stateKey.status)).subscribe({
          next: (row) => {
            if (!row || status.isLeader) return;
            Object.assign(status, (row as StateRow).value as Partial<SyncStatus>);
            publish();
          },
          error: () => {},
        }),
      );
      leadership = electLeader({
        db,
        tabId,
        useWebLocks: opts.multiTab !== 'lease',
        ...(opts.leaderLeaseMs ? { leaseMs: opts.leaderLeaseMs } : {}),
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
      if (started && engine && stopOpts.flush !== false && status.pending > 0 && !authRefused()) {
        const timeout = new Promise((r) => setTimeout(r, stopOpts.flushTimeoutMs ?? 5000));
        await Promise.race([engine.request({ push: true }), timeout]);
      }
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      unlead();
      await leadership?.release();
      leadership = null;
      started = false;
      const unsynced = await pendingChanges();
      if (stopOpts.clearLocalData) {
        await db.transaction('rw', [...opts.tables, OUTBOX_TABLE, STATE_TABLE], async (tx) => {
          untracked.add(tx.idbtrans);
          for (const t of opts.tables) await db.table(t).clear();
          await db.table(OUTBOX_TABLE).clear();
          const state = db.table<StateRow, string>(STATE_TABLE);
          // The clientId goes with the data: the server leaves out of its answers what this id
          // wrote, so keeping it would hide the user's own records from the emptied device.
          await state
            .filter(
              (r) => r.key.startsWith('cursor:') || r.key === stateKey.status || r.key === stateKey.clientId,
            )
            .delete();
        });
        clientId = '';
      }
      status.isLeader = false;
      send('stop');
      status.lastError = null;
      publish();
      return { unsynced };
    },
    async restore(conflict) {
      await db.table(conflict.table).update(conflict.id, { [conflict.field]: conflict.localValue });
    },
    pendingChanges,
  };
}
