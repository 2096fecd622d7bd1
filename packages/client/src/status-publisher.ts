import type { Dexie } from 'dexie';
import { STATE_TABLE, stateKey } from './schema.js';
import { type SyncEvent, type SyncState, transition } from './state-machine.js';
import { Emitter, type SyncErrorInfo, type SyncEvents, type SyncStatus } from './status.js';

/**
 * The status the app sees: moved by the state machine (state-machine.ts), told to the app's
 * listeners, and, in the leader tab, written to the state table where the other tabs read it.
 */
export interface StatusPublisher {
  readonly events: Emitter<SyncEvents>;
  /** A copy: the app cannot change the client's status through it. */
  snapshot(): SyncStatus;
  /** Feeds the state machine; tells listeners when the state, the error or the last sync moved. */
  send(event: SyncEvent, error?: SyncErrorInfo | null): void;
  /** Changes fields beside the state; tells listeners when one changed. */
  update(patch: Partial<SyncStatus>): void;
  /** Changes fields quietly: the next `send` or `publish` tells them. */
  set(patch: Partial<SyncStatus>): void;
  /** Tells listeners (and, in the leader, the other tabs) the status as it is. */
  publish(): void;
  /** The state is `error` for want of a sign-in: nothing automatic may call the server. */
  authRefused(): boolean;
  /** Date.now() when the state last became `syncing` or `synced` (the stall check's start). */
  readonly connectedSince: number;
  /** This tab now leads: its next status is written for the others even if it did not change. */
  writeNextForFollowers(): void;
}

const connected = (s: SyncState) => s === 'syncing' || s === 'synced';

export function createStatusPublisher(db: Dexie): StatusPublisher {
  const events = new Emitter<SyncEvents>();
  const status: SyncStatus = {
    state: 'idle',
    pending: 0,
    lastSyncAt: null,
    lastError: null,
    isLeader: false,
    realtime: false,
  };
  let connectedSince = 0;
  let lastShared = '';

  function publish() {
    events.emit('status', { ...status });
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

  return {
    events,
    snapshot: () => ({ ...status }),
    send(event, error) {
      const before = status.state;
      const after = transition(before, event);
      if (error !== undefined && after !== 'idle') status.lastError = error;
      const finished = event === 'syncSucceeded' || event === 'syncIncomplete';
      if (finished && after !== 'idle') status.lastSyncAt = Date.now();
      if (connected(after) && !connected(before)) connectedSince = Date.now();
      status.state = after;
      if (before !== after || error !== undefined || finished) publish();
    },
    update(patch) {
      const changed = (Object.keys(patch) as Array<keyof SyncStatus>).some((k) => patch[k] !== status[k]);
      Object.assign(status, patch);
      if (changed) publish();
    },
    set(patch) {
      Object.assign(status, patch);
    },
    publish,
    authRefused: () => status.state === 'error' && status.lastError?.code === 'AUTH_REFUSED',
    get connectedSince() {
      return connectedSince;
    },
    writeNextForFollowers() {
      lastShared = '';
    },
  };
}
