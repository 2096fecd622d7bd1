/**
 * The sync status as a state machine (see SPEC.md). Every (state, event) pair is written
 * out, so TypeScript refuses a table that forgets one.
 *
 *            start              syncSucceeded
 *   idle ──────────▶ syncing ─────────────────▶ synced
 *    ▲                │  ▲ ▲                      │
 *    │ stop           │  │ └──── syncStarted ─────┘
 *    │ (any state)    │  │
 *    │   networkFailed│  │syncStarted / online
 *    │   wentOffline  ▼  │
 *    │              offline
 *    │
 *    └── error ◀── authRefused | rejected | stalled | serverFailed | syncIncomplete
 *         │ syncStarted ▶ syncing                          (from syncing/synced/offline)
 *
 * `syncIncomplete`: a run that reached the server and finished, while changes are held back
 * (records that cannot be uploaded, changes the server refused): the sync goes on, but the
 * user must be told, so the state is `error` until they are resolved.
 */
export type SyncState = 'idle' | 'syncing' | 'synced' | 'offline' | 'error';

export type SyncEvent =
  | 'start'
  | 'stop'
  | 'syncStarted'
  | 'syncSucceeded'
  | 'syncIncomplete'
  | 'networkFailed'
  | 'serverFailed'
  | 'wentOffline'
  | 'cameOnline'
  | 'authRefused'
  | 'rejected'
  | 'stalled';

export const TRANSITIONS: Record<SyncState, Record<SyncEvent, SyncState>> = {
  idle: {
    start: 'syncing',
    stop: 'idle',
    syncStarted: 'idle',
    syncSucceeded: 'idle',
    syncIncomplete: 'idle',
    networkFailed: 'idle',
    serverFailed: 'idle',
    wentOffline: 'idle',
    cameOnline: 'idle',
    authRefused: 'idle',
    rejected: 'idle',
    stalled: 'idle',
  },
  syncing: {
    start: 'syncing',
    stop: 'idle',
    syncStarted: 'syncing',
    syncSucceeded: 'synced',
    syncIncomplete: 'error',
    networkFailed: 'offline',
    serverFailed: 'error',
    wentOffline: 'offline',
    cameOnline: 'syncing',
    authRefused: 'error',
    rejected: 'error',
    stalled: 'error',
  },
  synced: {
    start: 'synced',
    stop: 'idle',
    syncStarted: 'syncing',
    syncSucceeded: 'synced',
    syncIncomplete: 'error',
    networkFailed: 'offline',
    serverFailed: 'error',
    wentOffline: 'offline',
    cameOnline: 'synced',
    authRefused: 'error',
    rejected: 'error',
    stalled: 'error',
  },
  offline: {
    start: 'offline',
    stop: 'idle',
    syncStarted: 'syncing',
    syncSucceeded: 'synced',
    syncIncomplete: 'error',
    networkFailed: 'offline',
    serverFailed: 'error',
    wentOffline: 'offline',
    cameOnline: 'syncing',
    authRefused: 'error',
    rejected: 'error',
    // Not "believed connected": pending changes are expected to wait while offline.
    stalled: 'offline',
  },
  error: {
    start: 'syncing',
    stop: 'idle',
    syncStarted: 'syncing',
    syncSucceeded: 'synced',
    syncIncomplete: 'error',
    networkFailed: 'offline',
    serverFailed: 'error',
    wentOffline: 'offline',
    cameOnline: 'syncing',
    authRefused: 'error',
    rejected: 'error',
    stalled: 'error',
  },
};

export function transition(state: SyncState, event: SyncEvent): SyncState {
  return TRANSITIONS[state][event];
}
