import type { EncodedValue } from '@mana/sync-protocol';
import type { DBCore, DBCoreMutateRequest, DBCoreMutateResponse, DBCoreTable, Middleware } from 'dexie';
import type { Clock } from './clock.js';
import {
  changedFields,
  checkRecordSize,
  deleteFields,
  type EncodedRecord,
  encodeRecord,
  encodeStored,
  holdsBlobs,
  insertFields,
  isSyncableId,
  readRecordBlobs,
} from './record-fields.js';
import { OUTBOX_TABLE, type OutboxRow } from './schema.js';

/**
 * Change capture as a Dexie DBCore middleware.
 *
 *   app: db.todos.put(x) ─▶ [capture] ─▶ todos.put(x)       ┐ one IndexedDB
 *                              └──────▶ outbox.add(change)  ┘ transaction
 *
 * Every read-write transaction that touches a synced table is widened to the outbox, and the
 * outbox row is written only for operations that succeeded, so a crash can neither lose a
 * queued write nor queue one that did not happen. Transactions in `untracked` (the client
 * applying server changes) pass through.
 */
export interface CaptureOptions {
  tables: ReadonlySet<string>;
  clock: Clock;
  untracked: WeakSet<object>;
  /**
   * Called once a transaction that queued changes has committed. This, not a `liveQuery`, is
   * how the client learns of its own writes: liveQuery needs a global `indexedDB`, which Node
   * and apps passing Dexie's `indexedDB` option do not have.
   */
  onQueued?: (lastSeq: number) => void;
  /**
   * Keeps the app's transaction open while a promise that is not an IndexedDB request settles
   * (the app's `Dexie.waitFor`): reading a Blob's contents is one. Without it IndexedDB would
   * commit the transaction under the read, before the change is queued.
   */
  waitFor: <T>(promise: Promise<T>) => PromiseLike<T>;
}

export function captureMiddleware(opts: CaptureOptions): Middleware<DBCore> {
  return {
    stack: 'dbcore',
    name: 'ManaSyncCapture',
    create(down) {
      /** Per transaction that queued changes: the highest outbox seq it queued. */
      const watched = new WeakMap<object, number>();
      const afterCommit = (trans: object, seq: number) => {
        if (!opts.onQueued) return;
        const had = watched.get(trans);
        watched.set(trans, Math.max(had ?? 0, seq));
        if (had !== undefined) return;
        const notify = () => opts.onQueued!(watched.get(trans)!);
        const t = trans as Partial<Pick<EventTarget, 'addEventListener'>>;
        if (typeof t.addEventListener === 'function') t.addEventListener('complete', notify);
        // Not an IDBTransaction (another DBCore below us): the reader rereads the outbox.
        else setTimeout(notify, 0);
      };
      return {
        ...down,
        transaction(stores, mode, options) {
          const widen =
            mode === 'readwrite' && stores.some((s) => opts.tables.has(s)) && !stores.includes(OUTBOX_TABLE);
          return down.transaction(widen ? [...stores, OUTBOX_TABLE] : stores, mode, options);
        },
        table(name) {
          const table = down.table(name);
          if (!opts.tables.has(name)) return table;
          // During a schema upgrade the outbox may not exist yet: writes of upgrade functions
          // pass through, and adoption (adopt.ts) queues them once the database is ready.
          const hasOutbox = down.schema.tables.some((t) => t.name === OUTBOX_TABLE);
          if (!hasOutbox) return table;
          const outbox = down.table(OUTBOX_TABLE);
          return {
            ...table,
            mutate: (req) =>
              opts.untracked.has(req.trans)
                ? table.mutate(req)
                : tracked(table, outbox, req, opts, afterCommit),
          };
        },
      };
    },
  };
}

async function tracked(
  table: DBCoreTable,
  outbox: DBCoreTable,
  req: DBCoreMutateRequest,
  opts: Pick<CaptureOptions, 'clock' | 'waitFor'>,
  afterCommit: (trans: object, seq: number) => void,
): Promise<DBCoreMutateResponse> {
  const name = table.name;
  const at = opts.clock.next();
  const queuedAt = Date.now();
  const rows: OutboxRow[] = [];
  /** A record under an id the server cannot take was deleted: it may be held back (held-back.ts). */
  let heldBackGone = false;
  let res: DBCoreMutateResponse;

  switch (req.type) {
    case 'add': {
      // Encoded before the write: a value that cannot sync fails the app's own call.
      const records = req.values.map((v) => encodeRecord(name, v));
      const reading = readBlobs(
        records.map((r) => r.fields),
        opts,
      );
      if (reading) await reading;
      for (const r of records) checkRecordSize(name, r);
      res = await table.mutate(req);
      records.forEach((r, i) => {
        if (res.failures[i]) return;
        rows.push({ table: name, id: r.id, op: 'insert', fields: insertFields(r, at), at: queuedAt });
      });
      break;
    }
    case 'put': {
      const records: EncodedRecord[] = req.values.map((v) => encodeRecord(name, v));
      const stored: Array<Record<string, unknown> | undefined> = await table.getMany({
        trans: req.trans,
        keys: records.map((r) => r.id),
      });
      const before = stored.map((old) => (old === undefined ? undefined : encodeStored(old)));
      const reading = readBlobs([...records.map((r) => r.fields), ...before], opts);
      if (reading) await reading;
      for (const [i, r] of records.entries()) checkRecordSize(name, r, before[i]);
      res = await table.mutate(req);
      records.forEach((r, i) => {
        if (res.failures[i]) return;
        const old = before[i];
        if (old === undefined) {
          rows.push({ table: name, id: r.id, op: 'insert', fields: insertFields(r, at), at: queuedAt });
        } else {
          const fields = changedFields(old, r, at);
          if (Object.keys(fields).length > 0)
            rows.push({ table: name, id: r.id, op: 'update', fields, at: queuedAt });
        }
      });
      break;
    }
    case 'delete': {
      const before: unknown[] = await table.getMany({ trans: req.trans, keys: req.keys });
      res = await table.mutate(req);
      req.keys.forEach((key, i) => {
        // A record under an id the server cannot take never synced: nothing to delete there.
        if (res.failures[i] || before[i] === undefined) return;
        if (!isSyncableId(key)) {
          heldBackGone = true;
          return;
        }
        rows.push({ table: name, id: String(key), op: 'delete', fields: deleteFields(at), at: queuedAt });
      });
      break;
    }
    case 'deleteRange': {
      // clear() and where(...).delete(): learn which records the range holds before they go.
      const found = await table.query({
        trans: req.trans,
        query: { index: table.schema.primaryKey, range: req.range },
        values: false,
      });
      res = await table.mutate(req);
      for (const key of found.result) {
        if (!isSyncableId(key)) {
          heldBackGone = true;
          continue;
        }
        rows.push({ table: name, id: String(key), op: 'delete', fields: deleteFields(at), at: queuedAt });
      }
      break;
    }
  }
  if (rows.length > 0) {
    const queued = await outbox.mutate({ type: 'add', trans: req.trans, values: rows });
    if (queued.numFailures > 0) throw queued.failures[0] ?? new Error('could not queue the change');
    let last = 0;
    for (const seq of queued.results ?? []) if (typeof seq === 'number' && seq > last) last = seq;
    afterCommit(req.trans, last);
  } else if (heldBackGone) {
    // Nothing to push, but the sync loop's next run rechecks what is held back: the record's
    // `error` and its count in `pending` go without waiting for the app's sync().
    afterCommit(req.trans, 0);
  }
  return res;
}

/**
 * Blob and File contents, read into the encoded fields inside the app's transaction (kept open
 * by `waitFor`), so the outbox holds plain JSON and a Blob is compared by its contents. Costs
 * about a millisecond for a 256 KiB Blob (docs/client.md). Records without Blobs pay nothing,
 * and get no promise to await: awaiting anything but Dexie's own promises inside a DBCore
 * middleware loses Dexie's transaction zone (the layers below then find no transaction).
 */
function readBlobs(
  records: ReadonlyArray<Record<string, EncodedValue> | undefined>,
  opts: Pick<CaptureOptions, 'waitFor'>,
): PromiseLike<unknown> | undefined {
  const withBlobs = records.filter(
    (r): r is Record<string, EncodedValue> => r !== undefined && holdsBlobs(r),
  );
  return withBlobs.length > 0 ? opts.waitFor(Promise.all(withBlobs.map(readRecordBlobs))) : undefined;
}
