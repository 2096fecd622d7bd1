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
  | 'BAD_RESPONSE';

export interface SyncErrorInfo {
  code: ErrorCode | ClientReason;
  message: string;
  at: number;
}

export interface SyncStatus {
  state: SyncState;
  /** Captured writes not yet acknowledged by the server. */
  pending: number;
  /** Date.now() of the last sync that completed, or null. */
  lastSyncAt: number | null;
  lastError: SyncErrorInfo | null;
  /** This tab runs the sync (one leader per database across tabs). */
  isLeader: boolean;
  /** The WebSocket is open and authenticated. */
  realtime: boolean;
}

/** A local edit the server kept out because another edit of the same field was later. */
export interface ConflictEvent extends Conflict {
  /** What this client wrote and lost. Restore it with `client.restore(conflict)`. */
  localValue: unknown;
}

export interface SyncEvents {
  status: SyncStatus;
  conflict: ConflictEvent;
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
