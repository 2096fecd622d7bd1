import type { Dexie } from 'dexie';
import type { PendingChange } from './client-types.js';
import type { Engine } from './engine.js';
import { blockedChanges, HELD_BACK_PREFIXES, refusedAsPending, refusedChanges } from './held-back.js';
import { coalesce } from './outbox.js';
import { ACK_PREFIX } from './overwrites.js';
import { OUTBOX_TABLE, type OutboxRow, STATE_TABLE, type StateRow, stateKey } from './schema.js';

/** What this device holds that the server has not: the outbox, one entry per record, and the records that cannot be uploaded. */
export async function pendingChanges(db: Dexie): Promise<PendingChange[]> {
  const rows = await db.table<OutboxRow, number>(OUTBOX_TABLE).orderBy('seq').toArray();
  const queued: PendingChange[] = coalesce(rows).map((c) => ({
    table: c.table,
    id: c.id,
    op: c.op,
    fields: Object.keys(c.fields ?? {}),
  }));
  return [...queued, ...(await blockedChanges(db))];
}

/**
 * stop()'s last push: what was queued when it was called, read from the outbox itself, never
 * from `status.pending` (recounted a moment after a write commits). A follower tab asks the
 * leader and waits for those rows to go. Gives up after `timeoutMs`: sign-out is not held up
 * by a dead server.
 */
export async function flushOutbox(db: Dexie, engine: Engine | null, timeoutMs: number) {
  const outbox = db.table<OutboxRow, number>(OUTBOX_TABLE);
  const last = (await outbox.orderBy('seq').last())?.seq;
  if (last === undefined) return;
  const deadline = Date.now() + timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise((r) => {
    timer = setTimeout(r, timeoutMs);
  });
  try {
    if (engine) {
      await Promise.race([engine.request({ push: true }), timeout]);
      return;
    }
    await db.table(STATE_TABLE).put({ key: stateKey.syncRequest, value: Date.now() });
    while (Date.now() < deadline && (await outbox.where('seq').belowOrEqual(last).count()) > 0) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads what is unsynced and, when asked (`clear`: only when nothing is unsynced, or `discard`),
 * empties the synced tables, the outbox and this device's sync state, in one transaction:
 * nothing written in between is cleared unreported.
 */
export async function closeLocalData(
  db: Dexie,
  tables: readonly string[],
  untracked: WeakSet<object>,
  { clear, discard }: { clear: boolean; discard: boolean },
): Promise<{ unsynced: PendingChange[]; cleared: boolean }> {
  const scope = [...tables, OUTBOX_TABLE, STATE_TABLE];
  let cleared = false;
  const unsynced = await db.transaction(clear ? 'rw' : 'r', scope, async (tx) => {
    const list = [...(await pendingChanges(db)), ...refusedAsPending(await refusedChanges(db))];
    if (!clear || (list.length > 0 && !discard)) return list;
    untracked.add(tx.idbtrans);
    for (const t of tables) await db.table(t).clear();
    await db.table(OUTBOX_TABLE).clear();
    // The clientId goes with the data: the server leaves out of its answers what this id
    // wrote, so keeping it would hide the user's own records from the emptied device.
    const local = ['cursor:', ACK_PREFIX, ...HELD_BACK_PREFIXES];
    await db
      .table<StateRow, string>(STATE_TABLE)
      .filter(
        (r) =>
          local.some((p) => r.key.startsWith(p)) || r.key === stateKey.status || r.key === stateKey.clientId,
      )
      .delete();
    cleared = true;
    return list;
  });
  return { unsynced, cleared };
}
