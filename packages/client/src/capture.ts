import type { DBCore, DBCoreMutateRequest, DBCoreMutateResponse, DBCoreTable, Middleware } from 'dexie';
import type { Clock } from './clock.js';
import {
  changedFields,
  checkRecord,
  checkRecordSize,
  deleteFields,
  insertFields,
  isSyncableId,
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
  onQueued?: () => void;
}

export function captureMiddleware(opts: CaptureOptions): Middleware<DBCore> {
  return {
    stack: 'dbcore',
    name: 'ManaSyncCapture',
    create(down) {
      const watched = new WeakSet<object>();
      const afterCommit = (trans: object) => {
        if (!opts.onQueued || watched.has(trans)) return;
        watched.add(trans);
        const notify = opts.onQueued;
        const t = trans as Partial<Pick<EventTarget, 'addEventListener'>>;
        if (typeof t.addEventListener === 'function') t.addEventListener('complete', () => notify());
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
                : tracked(table, outbox, req, opts.clock, afterCommit),
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
  clock: Clock,
  afterCommit: (trans: object) => void,
): Promise<DBCoreMutateResponse> {
  const name = table.name;
  const at = clock.next();
  const queuedAt = Date.now();
  const rows: OutboxRow[] = [];
  let res: DBCoreMutateResponse;

  switch (req.type) {
    case 'add': {
      for (const v of req.values) checkRecordSize(name, checkRecord(name, v), v);
      res = await table.mutate(req);
      req.values.forEach((v, i) => {
        if (res.failures[i]) return;
        rows.push({ table: name, id: v.id, op: 'insert', fields: insertFields(v, at), at: queuedAt });
      });
      break;
    }
    case 'put': {
      const ids = req.values.map((v) => checkRecord(name, v));
      const before: Array<Record<string, unknown> | undefined> = await table.getMany({
        trans: req.trans,
        keys: ids,
      });
      for (const [i, v] of req.values.entries()) checkRecordSize(name, ids[i]!, v, before[i]);
      res = await table.mutate(req);
      req.values.forEach((v, i) => {
        if (res.failures[i]) return;
        const old = before[i];
        if (old === undefined) {
          rows.push({ table: name, id: ids[i]!, op: 'insert', fields: insertFields(v, at), at: queuedAt });
        } else {
          const fields = changedFields(old, v, at);
          if (Object.keys(fields).length > 0)
            rows.push({ table: name, id: ids[i]!, op: 'update', fields, at: queuedAt });
        }
      });
      break;
    }
    case 'delete': {
      const before: unknown[] = await table.getMany({ trans: req.trans, keys: req.keys });
      res = await table.mutate(req);
      req.keys.forEach((key, i) => {
        // A record under an id the server cannot take never synced: nothing to delete there.
        if (res.failures[i] || before[i] === undefined || !isSyncableId(key)) return;
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
        if (!isSyncableId(key)) continue;
        rows.push({ table: name, id: String(key), op: 'delete', fields: deleteFields(at), at: queuedAt });
      }
      break;
    }
  }
  if (rows.length > 0) {
    const queued = await outbox.mutate({ type: 'add', trans: req.trans, values: rows });
    if (queued.numFailures > 0) throw queued.failures[0] ?? new Error('could not queue the change');
    afterCommit(req.trans);
  }
  return res;
}
