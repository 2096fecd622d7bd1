import { type Json, sameJson, stableJson } from './json.js';
import { canonical, type Micros } from './time.js';

/**
 * The reference model: field-level last-write-wins written from DESIGN.md section 4 alone
 * (it imports nothing from the server or the protocol package).
 *
 * - A field write wins iff its timestamp is strictly later than the stored one.
 * - On a tie the stored value stays; a losing write with a different value is a conflict,
 *   one with the same value is an idempotent no-op.
 * - A delete is the field `deletedAt` (value: the canonical delete time); an undelete is a
 *   later `deletedAt: null`.
 * Batches are applied in the order the server received them, changes in batch order.
 * - Echo (DESIGN.md section 12): the model remembers which client wrote each stored field; a
 *   server change for a client carries every field of the record but those it wrote, and a
 *   record with none left is not sent to it. The fields an undelete brings back (it does not
 *   write them) go to every client.
 */

export const DELETED_AT = 'deletedAt';

export interface FieldWrite {
  name: string;
  value: Json;
  at: Micros;
}

/** One change as the model sees it: the field writes it implies. */
export interface ModelChange {
  table: string;
  id: string;
  writes: FieldWrite[];
}

export interface ModelConflict {
  table: string;
  id: string;
  field: string;
  clientValue: Json;
  clientAt: Micros;
  serverValue: Json;
  serverAt: Micros;
}

export interface StoredField {
  value: Json;
  at: Micros;
}

/** table → id → field → stored field. */
export type ModelState = Map<string, Map<string, StoredField>>;

export const recordKey = (table: string, id: string) => `${table}/${id}`;

export class LwwModel {
  readonly records: ModelState = new Map();
  /** table/id → field → the client whose write is stored. */
  private readonly writers = new Map<string, Map<string, string>>();

  /**
   * Applies one batch the server accepted from `clientId`; returns the conflicts it must
   * report.
   */
  applyBatch(changes: ModelChange[], clientId: string): ModelConflict[] {
    const conflicts: ModelConflict[] = [];
    for (const change of changes) {
      const key = recordKey(change.table, change.id);
      const record = this.records.get(key) ?? new Map<string, StoredField>();
      const writers = this.writers.get(key) ?? new Map<string, string>();
      const wasDeleted = isDeletedIn(record);
      const written = new Set<string>();
      for (const w of change.writes) {
        const stored = record.get(w.name);
        if (stored === undefined || w.at > stored.at) {
          record.set(w.name, { value: w.value, at: w.at });
          writers.set(w.name, clientId);
          written.add(w.name);
        } else if (!sameJson(w.value, stored.value)) {
          conflicts.push({
            table: change.table,
            id: change.id,
            field: w.name,
            clientValue: w.value,
            clientAt: w.at,
            serverValue: stored.value,
            serverAt: stored.at,
          });
        }
      }
      // An undelete brings back the fields it does not write, to every client: each device
      // that applied the delete dropped them, their writer included.
      if (wasDeleted && !isDeletedIn(record)) {
        for (const field of record.keys()) if (!written.has(field)) writers.set(field, RESTORED);
      }
      // A change that sets nothing leaves no record behind.
      if (record.size > 0) {
        this.records.set(key, record);
        this.writers.set(key, writers);
      }
    }
    return conflicts;
  }

  /**
   * The fields of a record a server change to `clientId` must carry: all but those whose
   * stored write is its own (null: a reader that names no client gets them all).
   */
  sentTo(key: string, clientId: string | null): Map<string, StoredField> {
    const out = new Map<string, StoredField>();
    const writers = this.writers.get(key);
    for (const [field, f] of this.records.get(key) ?? []) {
      if (clientId === null || writers?.get(field) !== clientId) out.set(field, f);
    }
    return out;
  }
}

/** The writer of a field an undelete brought back: no client, so every client is sent it. */
const RESTORED = '(restored)';

function isDeletedIn(record: Map<string, StoredField>): boolean {
  const v = record.get(DELETED_AT)?.value;
  return v !== null && v !== undefined && v !== false;
}

/** Field writes of a delete at `at`. */
export function deleteWrites(at: Micros): FieldWrite[] {
  return [{ name: DELETED_AT, value: canonical(at), at }];
}

/**
 * One comparable line per stored field, sorted: `table/id field value @micros`.
 * Two states are equal iff their lines are.
 */
export function stateLines(state: ModelState): string[] {
  const lines: string[] = [];
  for (const [key, record] of state) {
    for (const [field, f] of record) lines.push(`${key} ${field} ${stableJson(f.value)} @${canonical(f.at)}`);
  }
  return lines.sort();
}

export function conflictLines(conflicts: ModelConflict[]): string[] {
  return conflicts
    .map(
      (c) =>
        `${recordKey(c.table, c.id)} ${c.field} client=${stableJson(c.clientValue)}@${canonical(c.clientAt)} server=${stableJson(c.serverValue)}@${canonical(c.serverAt)}`,
    )
    .sort();
}
