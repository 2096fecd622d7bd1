import type { Dexie } from 'dexie';
import { adoptExistingRecords } from './adopt.js';
import { createTokenSource } from './auth.js';
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
import { discardRefused, recheckBlocked, refusedChanges } from './held-back.js';
import { electLeader, type Leadership } from './leader.js';
import { type LeaderTerm, startLeaderTerm } from './leader-term.js';
import { closeLocalData, flushOutbox, pendingChanges } from './local-data.js';
import { checkOptions, DEFAULTS, resolveOptions } from './options.js';
import { OUTBOX_TABLE, STATE_TABLE, stateKey } from './schema.js';
import { createStatusPublisher } from './status-publisher.js';
import { createTabState } from './tab-state.js';

export type { PendingChange, StopOptions, StopReport, SyncClient, SyncClientOptions };

/** Node before 22 has no WebSocket: said once per process, not once per client. */
let warnedNoWebSocket = false;

/**
 * Attaches sync to a Dexie database. Call before `db.open()` (or the first query): the
 * change-capture middleware must be in place before the first write.
 *
 * The parts, each in its own file: the capture (capture.ts) queues every write in the outbox;
 * the tab state (tab-state.ts) counts it and reads what other tabs share; the tab elected
 * leader (leader.ts) runs a leader term (leader-term.ts: the sync loop, the WebSocket, the
 * scheduler); the status publisher (status-publisher.ts) tells the app.
 */
export function createSyncClient(db: Dexie, options: SyncClientOptions): SyncClient {
  const opts = resolveOptions(options);
  if (db.isOpen()) throw new TypeError('createSyncClient: call it before the database is opened');
  checkOptions(opts);
  if (opts.WebSocket === undefined && typeof globalThis.WebSocket !== 'function' && !warnedNoWebSocket) {
    warnedNoWebSocket = true;
    console.warn(
      '[mana-sync] no WebSocket here (Node before 22?): changes from other devices arrive only with ' +
        "the periodic pull. Pass `WebSocket` (e.g. from the 'ws' package), or `WebSocket: null` to silence this.",
    );
  }
  const tables = new Set(opts.tables);
  const untracked = new WeakSet<object>();
  const status = createStatusPublisher(db);
  const tokens = createTokenSource(opts.getToken, opts.tokenRefreshMarginMs);
  const tabId = `t-${crypto.randomUUID()}`;

  let started = false;
  let leadership: Leadership | null = null;
  let term: LeaderTerm | null = null;
  /** For the WebSocket's auth message; the sync loop reads its own per run (client-id.ts). */
  let clientId = '';

  const tab = createTabState({
    db,
    status,
    started: () => started,
    engine: () => term?.engine ?? null,
    schedulePush: () => term?.schedulePush(),
  });

  // The app's own Dexie class (its zones), whichever copy this module loaded.
  const DexieClass = db.constructor as typeof Dexie;
  db.use(
    captureMiddleware({
      tables,
      clock: createClock(),
      untracked,
      onQueued: tab.noteQueued,
      waitFor: (promise) => DexieClass.waitFor(promise),
    }),
  );
  db.on('ready', () => checkSchemaAndAdopt(db, opts.tables), true);

  function lead() {
    term = startLeaderTerm({ db, opts, tables, untracked, tokens, clientId, status, tab });
  }

  function unlead() {
    term?.end();
    term = null;
  }

  return {
    get status() {
      return status.snapshot();
    },
    on: (event, fn) => status.events.on(event, fn),
    async start() {
      if (started) return;
      started = true;
      await db.open();
      clientId = await ensureClientId(db);
      tab.begin();
      // Records that cannot be uploaded are told once per start (adopt.ts found them).
      for (const e of await recheckBlocked(db, opts.tables)) status.events.emit('unsyncable', e);
      void tab.refreshPending();
      void tab.readSharedState();
      leadership = electLeader({
        db,
        tabId,
        useWebLocks: opts.multiTab !== 'lease',
        leaseMs: opts.leaderLeaseMs,
        onChange(isLeader) {
          status.set({ isLeader });
          if (isLeader) lead();
          else unlead();
          status.publish();
        },
      });
      if (opts.multiTab === 'off') {
        await leadership.release();
        status.set({ isLeader: true });
        lead();
      }
    },
    async sync() {
      if (!started) throw new Error('sync(): call start() first');
      if (term) {
        if (status.authRefused()) status.send('syncStarted');
        await term.engine.request({ push: true, pull: 'all' });
      } else {
        await db.table(STATE_TABLE).put({ key: stateKey.syncRequest, value: Date.now() });
      }
      return status.snapshot();
    },
    async stop(stopOpts = {}) {
      const {
        flush = true,
        flushTimeoutMs = DEFAULTS.flushTimeoutMs,
        clearLocalData = false,
        discardUnsynced = false,
      } = stopOpts;
      if (started && flush && !status.authRefused())
        await flushOutbox(db, term?.engine ?? null, flushTimeoutMs);
      tab.end();
      unlead();
      await leadership?.release();
      leadership = null;
      started = false;
      // Signing out: the next start() asks the app for a token, whoever signs in then.
      tokens.forget();
      const report = await closeLocalData(db, opts.tables, untracked, {
        clear: clearLocalData,
        discard: discardUnsynced,
      });
      if (report.cleared) {
        clientId = '';
        status.set({ pending: 0 });
      }
      status.set({ isLeader: false });
      status.send('stop');
      status.set({ lastError: null });
      status.publish();
      return report;
    },
    async restore(conflict) {
      await db.table(conflict.table).update(conflict.id, { [conflict.field]: conflict.localValue });
    },
    pendingChanges: () => pendingChanges(db),
    refusedChanges: () => refusedChanges(db),
    async discardRefused() {
      await discardRefused(db);
      // The status leaves `error` with the next run that finds nothing held back.
      if (term) void term.engine.request({ push: true });
    },
  };
}

/** On open: the app's schema holds the sync's tables, ids are `id`, and records written before sync was attached are queued (adopt.ts). */
async function checkSchemaAndAdopt(db: Dexie, tables: readonly string[]) {
  for (const name of [OUTBOX_TABLE, STATE_TABLE]) {
    if (!db.tables.some((t) => t.name === name)) {
      throw new TypeError(`mana-sync: table ${name} is missing; add ...syncStores to db.version().stores()`);
    }
  }
  for (const name of tables) {
    if (!db.tables.some((t) => t.name === name)) {
      throw new TypeError(
        `mana-sync: the synced table ${name} is not in the database's schema (db.version().stores())`,
      );
    }
  }
  for (const name of tables) {
    if (db.table(name).schema.primKey.keyPath !== 'id') {
      throw new TypeError(`mana-sync: table ${name} must have the primary key "id"`);
    }
  }
  await adoptExistingRecords(db, tables);
}
