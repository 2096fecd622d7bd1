import type { Dexie } from 'dexie';
import type { Engine } from './engine.js';
import type { ResolvedOptions } from './options.js';
import type { Realtime } from './realtime.js';
import { OUTBOX_TABLE, type OutboxRow } from './schema.js';
import type { StatusPublisher } from './status-publisher.js';

/**
 * When the leader's sync loop runs, besides the WebSocket's notifications: a write (at once, or
 * after `pushDebounceMs` of quiet), the periodic pull, the browser's `online` event; and when it
 * is stopped: the `offline` event, and the stall check (pending changes unsent for
 * `stallTimeoutMs` while connected). One per leadership term; `stop()` clears every timer.
 */
export interface Scheduler {
  /** A write is waiting in the outbox. */
  schedulePush(): void;
  stop(): void;
}

export interface SchedulerOptions {
  db: Dexie;
  engine: Engine;
  realtime: Realtime | null;
  status: StatusPublisher;
  opts: Pick<ResolvedOptions, 'pushDebounceMs' | 'pushMaxWaitMs' | 'pullIntervalMs' | 'stallTimeoutMs'>;
}

export function startScheduler({ db, engine, realtime, status, opts }: SchedulerOptions): Scheduler {
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let firstUnpushedAt = 0;
  const syncAll = () => void engine.request({ push: true, pull: 'all' });

  /**
   * A write goes out at once: the engine pushes now when no push is in flight, else it marks
   * the outbox for another pass, which sends everything written meanwhile in one push (bursts
   * batch by themselves). `pushDebounceMs` > 0 waits for quiet time instead, never longer than
   * `pushMaxWaitMs` after the first write it holds.
   */
  function schedulePush() {
    if (status.authRefused()) return;
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
      void engine.request({ push: true });
    }, wait);
  }

  async function checkStall() {
    const { state } = status.snapshot();
    if (state !== 'syncing' && state !== 'synced') return;
    const oldest = await db.table<OutboxRow, number>(OUTBOX_TABLE).orderBy('seq').first();
    if (!oldest) return;
    const since = Math.max(oldest.at, status.connectedSince, engine.lastPushOkAt);
    if (Date.now() - since <= opts.stallTimeoutMs) return;
    status.send('stalled', {
      code: 'STALLED',
      message: `${status.snapshot().pending} pending change(s) unsent for ${Math.round((Date.now() - since) / 1000)} s while connected; reconnecting`,
      at: Date.now(),
    });
    engine.abort('stalled');
    realtime?.reconnect();
  }

  const timers = [
    // No retry loop after an auth refusal: the app signs in again and calls sync().
    setInterval(() => status.authRefused() || syncAll(), opts.pullIntervalMs),
    setInterval(
      () => void checkStall().catch(() => {}),
      Math.max(50, Math.min(5000, Math.floor(opts.stallTimeoutMs / 4))),
    ),
  ];

  const win = globalThis as {
    addEventListener?: typeof addEventListener;
    removeEventListener?: typeof removeEventListener;
  };
  const offline = () => {
    status.send('wentOffline', { code: 'NETWORK', message: 'the browser is offline', at: Date.now() });
    engine.abort('offline');
    realtime?.stop();
  };
  const online = () => {
    status.send('cameOnline');
    realtime?.start();
    syncAll();
  };
  win.addEventListener?.('offline', offline);
  win.addEventListener?.('online', online);

  return {
    schedulePush,
    stop() {
      for (const t of timers) clearInterval(t);
      clearTimeout(debounce);
      win.removeEventListener?.('offline', offline);
      win.removeEventListener?.('online', online);
    },
  };
}
