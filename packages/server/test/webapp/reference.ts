import { stableJson } from '../proof/model/json.js';
import { DELETED_AT, type FieldWrite, LwwModel, type ModelChange } from '../proof/model/lww-model.js';
import type { PendingChange } from './webapp-model.js';

/**
 * The reference state of a conformance history: the proof suites' LWW model (field-level
 * last-write-wins, a write wins iff strictly later, on a tie the value the server stored first
 * stays), fed with every write in the order the server accepted the batches. What each write
 * means is written here from the web app's side: an insert's `data` is every field at the
 * record's own time (updatedAt, else createdAt), an update is its fields, a delete is the
 * field deletedAt.
 */

/** Micros of a millisecond ISO time, as the proof model counts. */
export function micros(isoTime: string): number {
  const ms = Date.parse(isoTime);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${isoTime}`);
  return ms * 1000;
}

/** The field writes a web-app pending change means. */
export function webAppWrites(c: PendingChange): ModelChange {
  const writes: FieldWrite[] = [];
  if (c.data) {
    const at = String(c.data.updatedAt ?? c.data.createdAt);
    for (const [name, value] of Object.entries(c.data)) {
      if (name !== 'id') writes.push({ name, value: value as never, at: micros(at) });
    }
  }
  for (const [name, f] of Object.entries(c.fields ?? {})) {
    writes.push({ name, value: f.value as never, at: micros(f.updatedAt) });
  }
  if (c.deletedAt) writes.push({ name: DELETED_AT, value: c.deletedAt, at: micros(c.deletedAt) });
  return { table: c.table, id: c.id, writes };
}

/** Fields that are bookkeeping, not the record's content: left out of every comparison. */
const NOT_CONTENT = new Set(['id', '__fieldTimestamps', DELETED_AT]);

/** A record's content: its fields without the bookkeeping ones. */
export function contentOf(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (!NOT_CONTENT.has(k)) out[k] = v;
  return out;
}

/** A record's content as one comparable string (key order does not matter). */
export const content = (fields: Record<string, unknown>): string => stableJson(contentOf(fields));

/** One line per visible record, sorted: `table/id {content}`. Deleted records have none. */
export function viewLines(visible: Map<string, Record<string, unknown>>): string[] {
  return [...visible].map(([key, rec]) => `${key} ${content(rec)}`).sort();
}

export class Reference {
  readonly model = new LwwModel();

  /** One batch the server accepted (a push), in the order it was accepted. */
  accept(changes: ModelChange[], clientId = 'any'): void {
    // Writers matter to the proof's echo checks, not to the values compared here.
    this.model.applyBatch(changes, clientId);
  }

  /** The records that are not deleted, as `table/id` → field values. */
  visible(): Map<string, Record<string, unknown>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const [key, record] of this.model.records) {
      const deleted = record.get(DELETED_AT)?.value;
      if (deleted !== null && deleted !== undefined) continue;
      const fields: Record<string, unknown> = {};
      for (const [name, f] of record) fields[name] = f.value;
      out.set(key, fields);
    }
    return out;
  }
}

/** The differences of two sorted views, or null when they are equal. */
export function viewDiff(aName: string, a: string[], bName: string, b: string[]): string | null {
  const onlyA = a.filter((l) => !b.includes(l));
  const onlyB = b.filter((l) => !a.includes(l));
  if (onlyA.length === 0 && onlyB.length === 0) return null;
  const short = (line: string) => (line.length > 300 ? `${line.slice(0, 300)}…` : line);
  const cut = (l: string[]) => [
    ...l.slice(0, 6).map(short),
    ...(l.length > 6 ? [`… ${l.length - 6} more`] : []),
  ];
  return `${aName} differs from ${bName}:\n    only in ${aName}:\n      ${cut(onlyA).join('\n      ')}\n    only in ${bName}:\n      ${cut(onlyB).join('\n      ')}`;
}
