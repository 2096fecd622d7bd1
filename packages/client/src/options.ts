import { tableNameSchema } from '@mana/sync-protocol';
import type { SyncClientOptions } from './client-types.js';

/**
 * The client's option defaults, declared once: createSyncClient resolves its options here and
 * hands the parts (engine, transport, leader, token source) plain values, so no part keeps a
 * default of its own. The README's options table is checked against this (test/options.test.ts).
 */
export const DEFAULTS = Object.freeze({
  /** A write goes out at once: the engine batches what is written during a push by itself. */
  pushDebounceMs: 0,
  /** With a debounce, a steady stream of writes still reaches the server every few seconds. */
  pushMaxWaitMs: 5000,
  /** Changes per push: well under the server's body limit, few round trips for a backlog. */
  pushBatchSize: 500,
  /** Records per pull page: each page is one transaction, so memory stays flat on a first sync. */
  pullLimit: 1000,
  /** Fallback pull for what the WebSocket missed (or when there is none): cheap when idle. */
  pullIntervalMs: 60_000,
  /** Longer than a slow push of a full batch, short enough that a stuck connection is noticed. */
  stallTimeoutMs: 30_000,
  /** A request that has not answered in this long is treated as a network failure and retried. */
  requestTimeoutMs: 30_000,
  /** Room for a clock skew and a slow getToken() before the server would refuse the old token. */
  tokenRefreshMarginMs: 60_000,
  /** Web Locks where the browser has them (instant takeover), else the IndexedDB lease. */
  multiTab: 'auto',
  /** 1 s first retry, capped at 30 s: a restarted server is not hit by every client at once. */
  retryBackoff: Object.freeze({ baseMs: 1000, maxMs: 30_000 }),
  /** Renewed every third of it: a closed leader tab is replaced within a few seconds. */
  leaderLeaseMs: 6000,
  /** stop()'s wait for the final push (StopOptions): sign-out is not held up by a dead server. */
  flushTimeoutMs: 5000,
} as const);

type Defaulted =
  | 'pushDebounceMs'
  | 'pushMaxWaitMs'
  | 'pushBatchSize'
  | 'pullLimit'
  | 'pullIntervalMs'
  | 'stallTimeoutMs'
  | 'requestTimeoutMs'
  | 'tokenRefreshMarginMs'
  | 'multiTab'
  | 'leaderLeaseMs';

/** The options with every default filled in (`fetch` and `WebSocket` stay as given: read late). */
export type ResolvedOptions = Omit<SyncClientOptions, Defaulted | 'retryBackoff'> &
  Required<Pick<SyncClientOptions, Defaulted>> & { retryBackoff: { baseMs: number; maxMs: number } };

export function resolveOptions(opts: SyncClientOptions): ResolvedOptions {
  return {
    ...opts,
    pushDebounceMs: opts.pushDebounceMs ?? DEFAULTS.pushDebounceMs,
    pushMaxWaitMs: opts.pushMaxWaitMs ?? DEFAULTS.pushMaxWaitMs,
    pushBatchSize: opts.pushBatchSize ?? DEFAULTS.pushBatchSize,
    pullLimit: opts.pullLimit ?? DEFAULTS.pullLimit,
    pullIntervalMs: opts.pullIntervalMs ?? DEFAULTS.pullIntervalMs,
    stallTimeoutMs: opts.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    tokenRefreshMarginMs: opts.tokenRefreshMarginMs ?? DEFAULTS.tokenRefreshMarginMs,
    multiTab: opts.multiTab ?? DEFAULTS.multiTab,
    retryBackoff: {
      baseMs: opts.retryBackoff?.baseMs ?? DEFAULTS.retryBackoff.baseMs,
      maxMs: opts.retryBackoff?.maxMs ?? DEFAULTS.retryBackoff.maxMs,
    },
    // A zero lease would be no lease at all (every tab taking over at once): 0 means the default.
    leaderLeaseMs: opts.leaderLeaseMs || DEFAULTS.leaderLeaseMs,
  };
}

/** Refuses options no sync can run with, at creation rather than at the first request. */
export function checkOptions(opts: ResolvedOptions): void {
  if (!/^https?:\/\//.test(opts.url))
    throw new TypeError(`createSyncClient: url must be http(s), got ${opts.url}`);
  if (opts.tables.length === 0) throw new TypeError('createSyncClient: tables is empty');
  for (const t of opts.tables) {
    if (!tableNameSchema.safeParse(t).success) throw new TypeError(`createSyncClient: bad table name ${t}`);
  }
}
