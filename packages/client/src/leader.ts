import type { Dexie } from 'dexie';
import { STATE_TABLE, type StateRow, stateKey } from './schema.js';

/**
 * One tab per database runs the sync; the others only read IndexedDB (their writes reach
 * the leader through the shared outbox and Dexie's cross-tab change events).
 *
 * With the Web Locks API the leader holds an exclusive lock for as long as it lives; the
 * browser hands it to the next waiting tab when the leader closes or crashes. Without it, a
 * lease row in the state table: the leader renews it every `leaseMs / 3`, and any tab takes
 * over a lease that has run out.
 */
export interface Leadership {
  readonly isLeader: boolean;
  release(): Promise<void>;
}

interface LockManagerLike {
  request(name: string, opts: { signal?: AbortSignal }, fn: () => Promise<void>): Promise<void>;
}

export interface LeaderOptions {
  db: Dexie;
  tabId: string;
  onChange(isLeader: boolean): void;
  /** The client's `leaderLeaseMs` (options.ts). */
  leaseMs: number;
  /** Tests force the fallback. */
  useWebLocks?: boolean;
}

export function electLeader(opts: LeaderOptions): Leadership {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  if (locks && opts.useWebLocks !== false) return webLockLeader(locks, opts);
  return leaseLeader(opts);
}

function webLockLeader(locks: LockManagerLike, opts: LeaderOptions): Leadership {
  let isLeader = false;
  let release: () => void = () => {};
  const abort = new AbortController();
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  locks
    .request(`mana-sync:${opts.db.name}`, { signal: abort.signal }, async () => {
      isLeader = true;
      opts.onChange(true);
      await held;
    })
    .catch(() => {}); // aborted while waiting
  return {
    get isLeader() {
      return isLeader;
    },
    async release() {
      abort.abort();
      release();
      if (isLeader) {
        isLeader = false;
        opts.onChange(false);
      }
    },
  };
}

interface Lease {
  tabId: string;
  until: number;
}

function leaseLeader(opts: LeaderOptions): Leadership {
  const leaseMs = opts.leaseMs;
  const state = opts.db.table<StateRow, string>(STATE_TABLE);
  let isLeader = false;
  let stopped = false;

  async function tick() {
    if (stopped) return;
    let mine = false;
    try {
      mine = await opts.db.transaction('rw', state, async () => {
        const lease = (await state.get(stateKey.leader))?.value as Lease | undefined;
        const now = Date.now();
        if (lease && lease.tabId !== opts.tabId && lease.until > now) return false;
        await state.put({ key: stateKey.leader, value: { tabId: opts.tabId, until: now + leaseMs } });
        return true;
      });
    } catch {
      mine = false; // database closing
    }
    if (stopped) return;
    if (mine !== isLeader) {
      isLeader = mine;
      opts.onChange(mine);
    }
  }
  const interval = setInterval(tick, Math.max(50, Math.floor(leaseMs / 3)));
  void tick();
  return {
    get isLeader() {
      return isLeader;
    },
    async release() {
      stopped = true;
      clearInterval(interval);
      if (isLeader) {
        isLeader = false;
        opts.onChange(false);
        await opts.db
          .transaction('rw', state, async () => {
            const lease = (await state.get(stateKey.leader))?.value as Lease | undefined;
            if (lease?.tabId === opts.tabId) await state.delete(stateKey.leader);
          })
          .catch(() => {});
      }
    },
  };
}
