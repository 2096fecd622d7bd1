import type { Conflict, ErrorCode } from '@mana/sync-protocol';
import type { SyncState } from './state-machine.js';

/**
 * Why the client is in `error` or `offline`. Wire codes come from the server
 * (@mana/sync-protocol errors.ts); the client adds its own local reasons:
 */
export type ClientReason =
  /** `getToken()` gave no token, or the server refused a freshly fetched one. */
  | 'AUTH_REFUSED'
  /** Pending changes stayed unsent while the client believed it was connected. */
  | 'STALLED'
  /** The server could not be reached (no network, connection refused, timeout). */
  | 'NETWORK'
  /** The server answered with something the client cannot read. */
  | 'BAD_RESPONSE'
  /** A record on the device cannot be uploaded (a value no encoding covers, a bad id): see `pendingChanges()`. */
  | 'UNSYNCABLE_RECORD'
  /** The server refused a change for good; it was set aside so the rest go on: see `refusedChanges()`. */
  | 'CHANGE_REFUSED';

export interface SyncErrorInfo {
  code: ErrorCode | ClientReason;
  message: string;
  at: number;
}

export interface SyncStatus {
  state: SyncState;
  /** Captured writes not yet acknowledged by the server, and records that cannot be uploaded. */
  pending: number;
  /** Date.now() of the last sync that completed, or null. */
  lastSyncAt: number | null;
  lastError: SyncErrorInfo | null;
  /** This tab runs the sync (one leader per database across tabs). */
  isLeader: boolean;
  /** The WebSocket is open and authenticated. */
  realtime: boolean;
}

/**
 * A local edit that lost to a concurrent edit of the same field on another device: one written
 * before the server acknowledged this one (it could not have seen it). Raised on this device
 * whichever synced first: by the push that lost, or by the change that overwrote the edit.
 */
export interface ConflictEvent extends Conflict {
  /** What this client wrote and lost. Restore it with `client.restore(conflict)`. */
  localValue: unknown;
}

/** A record on the device that cannot be uploaded; it stays, counted in `pending`. */
export interface UnsyncableRecordEvent {
  table: string;
  id: unknown;
  /** The record as the device holds it. */
  record: unknown;
  code: 'UNSYNCABLE_RECORD';
  /** Why, naming the field. */
  message: string;
}

/** A change the server refused for good, moved out of the queue (`refusedChanges()`). */
export interface RefusedChange {
  table: string;
  id: string;
  op: 'insert' | 'update' | 'delete';
  /** The refused field values. */
  fields: Record<string, unknown>;
  /** The server's error code (`INVALID_REQUEST`, `PAYLOAD_TOO_LARGE`, …) and message. */
  code: ErrorCode | ClientReason;
  message: string;
  /** Date.now() when it was refused. */
  at: number;
}

export interface SyncEvents {
  status: SyncStatus;
  conflict: ConflictEvent;
  unsyncable: UnsyncableRecordEvent;
  refused: RefusedChange;
}

export type Listener<T> = (value: T) => void;

/** A tiny typed emitter; a throwing listener never breaks the sync loop. */
export class Emitter<E> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  on<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  emit<K extends keyof E>(event: K, value: E[K]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<E[K]>)(value);
      } catch (err) {
        console.error('[mana-sync] listener failed', err);
      }
    }
  }
}
