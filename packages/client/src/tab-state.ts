import type { Dexie, ObservabilitySet } from 'dexie';
import type { Engine } from './engine.js';
import { countBlocked } from './held-back.js';
import { mayHoldKeys } from './mutated.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow, stateKey } from './schema.js';
import type { SyncStatus } from './status.js';
import type { StatusPublisher } from './status-publisher.js';

/**
 * What this tab learns from the tables every tab shares: `pending` (the outbox, written by
 * every tab), and from the state table the leader's status (mirrored by followers) and a
 * follower's sync() request (served by the leader). No liveQuery: it needs a global
 * `indexedDB`, so it stays silent in Node and with Dexie's `indexedDB` option; this tab's
 * own writes are told by its capture (`noteQueued`), other tabs' by Dexie's `storagemutated`.
 */
export interface TabState {
  /** start(): listen to other tabs' writes, forget what the last start saw. */
  begin(): void;
  /** stop(): stop listening. */
  end(): void;
  /** This tab queued a write up to `lastSeq` and it committed: push it, recount alongside. */
  noteQueued(lastSeq: number): void;
  /** Recounts `pending`, and asks for a push when the outbox holds rows not seen before. */
  refreshPending(): Promise<void>;
  /** Reads the leader's status (followers) and a waiting follower's sync() request (the leader). */
  readSharedState(): Promise<void>;
}

export interface TabStateOptions {
  db: Dexie;
  status: StatusPublisher;
  /** Between start() and stop(). */
  started(): boolean;
  /** The leader's sync loop, or null in a follower tab. */
  engine(): Engine | null;
  schedulePush(): void;
}

export function createTabState(o: TabStateOptions): TabState {
  const { db, status } = o;
  // The app's own Dexie class (its global events), whichever copy this module loaded.
  const DexieClass = db.constructor as typeof Dexie;
  const outbox = () => db.table<OutboxRow, number>(OUTBOX_TABLE);
  /**
   * The highest outbox seq this tab has seen. This tab's push takes the rows up to it, so a
   * recount pushes only for rows beyond them (another tab's): for its own write it would start
   * a second, empty pass of the sync run.
   */
  let seenSeq = 0;
  let lastSyncRequest: unknown;
  /** Counts run one after another, so each applies in order and awaiting one means it applied. */
  let counting: Promise<void> = Promise.resolve();

  function refreshPending(): Promise<void> {
    counting = counting.then(countPending, countPending);
    return counting;
  }

  // Counted whether started or not: a write made while idle (before start(), after stop()) is
  // pending as soon as it commits, as the README says.
  async function countPending() {
    let counted: { rows: number; blocked: number; last: number };
    try {
      counted = await DexieClass.ignoreTransaction(() =>
        db.transaction('r', [OUTBOX_TABLE, STATE_TABLE], async () => ({
          rows: await outbox().count(),
          blocked: await countBlocked(db),
          last: (await outbox().orderBy('seq').last())?.seq ?? 0,
        })),
      );
    } catch {
      return; // the database is closing
    }
    if (counted.last > seenSeq && counted.rows > 0) o.schedulePush();
    seenSeq = Math.max(seenSeq, counted.last);
    status.update({ pending: counted.rows + counted.blocked });
  }

  async function readSharedState() {
    if (!o.started()) return;
    let rows: Array<StateRow | undefined>;
    try {
      rows = await DexieClass.ignoreTransaction(() =>
        db.table<StateRow, string>(STATE_TABLE).bulkGet([stateKey.status, stateKey.syncRequest]),
      );
    } catch {
      return;
    }
    const [shared, request] = rows;
    // Followers show the leader's status.
    if (shared && !status.snapshot().isLeader) {
      status.set(shared.value as Partial<SyncStatus>);
      status.publish();
    }
    // A follower's sync() asks the leader through a state row.
    const engine = o.engine();
    if (engine && request && request.value !== lastSyncRequest) {
      lastSyncRequest = request.value;
      void engine.request({ push: true, pull: 'all' });
    }
  }

  const onStorageMutated = (parts: ObservabilitySet) => {
    const touched = (table: string) => {
      const prefix = `idb://${db.name}/${table}/`;
      return Object.keys(parts).some((k) => k === 'all' || k.startsWith(prefix));
    };
    // While the leader pushes, its loop takes the change (counting the outbox walks all of it,
    // and every acknowledged batch changes it).
    if (touched(OUTBOX_TABLE) && !o.engine()?.noteOutboxChanged()) void refreshPending();
    // Only writes that may hold the shared rows: not the leader's own cursors and ack entries.
    const state = `idb://${db.name}/${STATE_TABLE}/`;
    if (mayHoldKeys(parts, state, [stateKey.status, stateKey.syncRequest])) void readSharedState();
  };

  return {
    begin() {
      DexieClass.on('storagemutated', onStorageMutated);
      seenSeq = 0;
      lastSyncRequest = undefined;
    },
    end() {
      DexieClass.on('storagemutated').unsubscribe(onStorageMutated);
    },
    noteQueued(lastSeq) {
      seenSeq = Math.max(seenSeq, lastSeq);
      o.schedulePush();
      void refreshPending();
    },
    refreshPending,
    readSharedState,
  };
}
