import type { Dexie } from 'dexie';
import type { TokenSource } from './auth.js';
import { createBackoff } from './backoff.js';
import { createEngine, type Engine } from './engine.js';
import type { ResolvedOptions } from './options.js';
import { createRealtime, type Realtime, type WebSocketConstructor } from './realtime.js';
import { type Scheduler, startScheduler } from './scheduler.js';
import type { StatusPublisher } from './status-publisher.js';
import type { TabState } from './tab-state.js';
import { createTransport } from './transport.js';

/**
 * What runs while this tab leads (leader.ts): the sync loop (engine.ts), the WebSocket that
 * tells it what changed elsewhere (realtime.ts), and the scheduler that starts it
 * (scheduler.ts). A follower tab has none of them; `end()` stops them all.
 */
export interface LeaderTerm {
  readonly engine: Engine;
  /** A write is waiting in the outbox. */
  schedulePush(): void;
  end(): void;
}

export interface LeaderTermOptions {
  db: Dexie;
  opts: ResolvedOptions;
  tables: ReadonlySet<string>;
  /** Transactions the capture middleware leaves alone (the sync's own writes). */
  untracked: WeakSet<object>;
  tokens: TokenSource;
  /** For the WebSocket's auth message; the sync loop reads its own per run (client-id.ts). */
  clientId: string;
  status: StatusPublisher;
  tab: TabState;
}

export function startLeaderTerm(o: LeaderTermOptions): LeaderTerm {
  const { db, opts, status, tokens } = o;
  status.writeNextForFollowers();
  let realtime: Realtime | null = null;
  const engine = createEngine({
    db,
    tables: o.tables,
    tableList: opts.tables,
    untracked: o.untracked,
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
    send: status.send,
    onConflict: (c) => status.events.emit('conflict', c),
    onRefused: (c) => status.events.emit('refused', c),
    onOutboxChanged: o.tab.refreshPending,
    // After an auth error the socket stays down until a sync succeeds again.
    onSynced: () => realtime?.start(),
  });
  const WS =
    opts.WebSocket === undefined
      ? (globalThis.WebSocket as WebSocketConstructor | undefined)
      : opts.WebSocket;
  if (WS) {
    realtime = createRealtime({
      url: opts.url,
      appId: opts.appId,
      clientId: o.clientId,
      tokens,
      WebSocket: WS,
      onSyncAvailable: (t) => void engine.request({ pull: t }),
      onConnected: () => {
        // Told by the run this starts.
        status.set({ realtime: true });
        void engine.request({ push: true, pull: 'all' });
      },
      onDisconnected: () => status.update({ realtime: false }),
      onAuthRefused: (message) => {
        status.set({ realtime: false });
        status.send('authRefused', { code: 'AUTH_REFUSED', message, at: Date.now() });
      },
    });
  }
  status.send('start');
  const scheduler: Scheduler = startScheduler({ db, engine, realtime, status, opts });
  // A follower's sync() may be waiting for a leader.
  void o.tab.readSharedState();
  realtime?.start();
  void engine.request({ push: true, pull: 'all' });

  return {
    engine,
    schedulePush: scheduler.schedulePush,
    end() {
      engine.dispose();
      realtime?.stop();
      status.set({ realtime: false });
      scheduler.stop();
    },
  };
}
