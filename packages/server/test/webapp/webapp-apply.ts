/**
 * The Mana web app's `applyServerChanges` and `isValidSyncChange`, modelled from its sync
 * engine as /work/notes/webapp-engine.md (and DESIGN §12) describe it, over a plain in-memory
 * store. Nothing here knows our server or protocol package: it is the client we must serve
 * unchanged, quirks included (plain string comparisons of timestamps, an insert without
 * `data` applied from the change object itself, `deletedAt: null` making a change invalid).
 */

/** A local record: the app's fields plus the engine's per-field LWW times. */
export type LocalRecord = Record<string, unknown> & {
  id: string;
  __fieldTimestamps: Record<string, string>;
};

/** table → id → record (the web app's Dexie tables). */
export type LocalStore = Map<string, Map<string, LocalRecord>>;

export interface SyncChange {
  table: string;
  id: string;
  op: 'insert' | 'update' | 'delete';
  fields?: Record<string, { value: unknown; updatedAt?: string }>;
  data?: Record<string, unknown>;
  deletedAt?: string;
  [key: string]: unknown;
}

/** A server change the engine refused: it is silently dropped there, so the suite counts it. */
export interface DroppedChange {
  change: unknown;
  reason: string;
}

export interface ApplyReport {
  applied: number;
  dropped: DroppedChange[];
  /** The engine's conflict events: a strictly newer server value replaced a different non-null local one. */
  conflicts: number;
}

const OPS = new Set(['insert', 'update', 'delete']);

/** Why the engine would drop `c`, or null when it is valid. */
export function invalidReason(c: unknown): string | null {
  if (c === null || typeof c !== 'object') return 'not an object';
  const x = c as Record<string, unknown>;
  if (typeof x.table !== 'string' || x.table === '') return 'table is not a non-empty string';
  if (typeof x.id !== 'string' || x.id === '') return 'id is not a non-empty string';
  if (typeof x.op !== 'string' || !OPS.has(x.op))
    return `op ${JSON.stringify(x.op)} is not insert|update|delete`;
  if (x.fields !== undefined) {
    if (x.fields === null || typeof x.fields !== 'object') return 'fields is not an object';
    for (const [name, f] of Object.entries(x.fields)) {
      if (f === null || typeof f !== 'object' || !('value' in f)) return `fields.${name} has no value`;
      const at = (f as { updatedAt?: unknown }).updatedAt;
      if (at !== undefined && typeof at !== 'string') return `fields.${name}.updatedAt is not a string`;
    }
  }
  if (x.data !== undefined && (x.data === null || typeof x.data !== 'object')) return 'data is not an object';
  if (x.deletedAt !== undefined && typeof x.deletedAt !== 'string')
    return `deletedAt is ${JSON.stringify(x.deletedAt)}, not a string`;
  return null;
}

export const isValidSyncChange = (c: unknown): c is SyncChange => invalidReason(c) === null;

function tableOf(store: LocalStore, name: string): Map<string, LocalRecord> {
  let t = store.get(name);
  if (!t) {
    t = new Map();
    store.set(name, t);
  }
  return t;
}

/** The time a local field is compared against: its own, else the record's updatedAt, else ''. */
function localTime(existing: LocalRecord, key: string): string {
  const own = existing.__fieldTimestamps?.[key];
  if (own !== undefined) return own;
  return typeof existing.updatedAt === 'string' ? existing.updatedAt : '';
}

/**
 * Applies one answer's server changes as the web app does: invalid entries dropped, then per
 * table (one transaction each in the web app) every change in order.
 */
export function applyServerChanges(store: LocalStore, changes: unknown, now: () => string): ApplyReport {
  const report: ApplyReport = { applied: 0, dropped: [], conflicts: 0 };
  if (!Array.isArray(changes)) {
    report.dropped.push({ change: changes, reason: 'serverChanges is not an array' });
    return report;
  }
  const byTable = new Map<string, SyncChange[]>();
  for (const c of changes) {
    const reason = invalidReason(c);
    if (reason !== null) {
      report.dropped.push({ change: c, reason });
      continue;
    }
    const sc = c as SyncChange;
    const list = byTable.get(sc.table);
    if (list) list.push(sc);
    else byTable.set(sc.table, [sc]);
  }
  for (const [table, list] of byTable) {
    const records = tableOf(store, table);
    for (const change of list) {
      applyOne(records, change, now, report);
      report.applied++;
    }
  }
  return report;
}

function applyOne(
  records: Map<string, LocalRecord>,
  change: SyncChange,
  now: () => string,
  report: ApplyReport,
): void {
  const existing = records.get(change.id);

  if (change.deletedAt || change.op === 'delete') {
    if (!existing) return;
    if (change.deletedAt) {
      const T = change.deletedAt;
      const local = existing.__fieldTimestamps?.deletedAt ?? existing.deletedAt ?? '';
      // Fields of a delete change are not applied.
      if (T >= (local as string)) {
        records.set(change.id, {
          ...existing,
          deletedAt: T,
          updatedAt: T,
          __fieldTimestamps: { ...existing.__fieldTimestamps, deletedAt: T, updatedAt: T },
        });
      }
    } else {
      records.delete(change.id); // op delete without deletedAt: a hard delete
    }
    return;
  }

  if (change.op === 'insert') {
    // Without `data` the engine falls back to the change object itself.
    const changeData = (change.data ?? change) as Record<string, unknown>;
    const recordTime = String(changeData.updatedAt ?? changeData.createdAt ?? now());
    if (!existing) {
      const ft: Record<string, string> = {};
      for (const key of Object.keys(changeData)) ft[key] = recordTime;
      records.set(change.id, { ...changeData, id: change.id, __fieldTimestamps: ft });
      return;
    }
    const next: LocalRecord = { ...existing, __fieldTimestamps: { ...existing.__fieldTimestamps } };
    for (const [key, value] of Object.entries(changeData)) {
      if (recordTime >= localTime(existing, key)) {
        countConflict(existing, key, value, recordTime, report);
        next[key] = value;
        next.__fieldTimestamps[key] = recordTime;
      }
    }
    records.set(change.id, next);
    return;
  }

  if (change.op === 'update' && change.fields) {
    if (!existing) {
      const rebuilt: LocalRecord = { id: change.id, __fieldTimestamps: {} };
      for (const [key, fc] of Object.entries(change.fields)) {
        rebuilt[key] = fc.value;
        rebuilt.__fieldTimestamps[key] = fc.updatedAt ?? now();
      }
      records.set(change.id, rebuilt);
      return;
    }
    const next: LocalRecord = { ...existing, __fieldTimestamps: { ...existing.__fieldTimestamps } };
    for (const [key, fc] of Object.entries(change.fields)) {
      const at = fc.updatedAt ?? now();
      if (at >= localTime(existing, key)) {
        countConflict(existing, key, fc.value, at, report);
        next[key] = fc.value;
        next.__fieldTimestamps[key] = at;
      }
    }
    records.set(change.id, next);
  }
}

function countConflict(existing: LocalRecord, key: string, value: unknown, at: string, report: ApplyReport) {
  const local = existing[key];
  if (at > localTime(existing, key) && local !== null && local !== undefined) {
    if (JSON.stringify(local) !== JSON.stringify(value)) report.conflicts++;
  }
}
