import {
  bare,
  type Change,
  DELETED_AT_FIELD,
  decodeValue,
  emptyState,
  type RecordState,
} from '@mana/sync-protocol';
import type { OutboxRow } from './schema.js';

export const recordKey = (table: string, id: string) => `${table}\u0000${id}`;

/**
 * Folds outbox rows (in `seq` order) into one change per record: the newer field wins (on a
 * tie the later row; a record queued again after it was unblocked carries the adoption time,
 * older than edits queued before it), an insert stays an insert, and a record whose last word
 * is a delete goes as `delete`.
 */
export function coalesce(rows: readonly OutboxRow[]): Change[] {
  const byRecord = new Map<string, Change>();
  for (const row of rows) {
    const key = recordKey(row.table, row.id);
    let change = byRecord.get(key);
    if (!change) {
      change = { table: row.table, id: row.id, op: row.op, fields: bare() };
      byRecord.set(key, change);
    }
    const fields = change.fields!;
    for (const [name, f] of Object.entries(row.fields)) {
      const had = fields[name];
      if (!had || f.updatedAt >= had.updatedAt) fields[name] = f;
    }
    if (row.op === 'insert' && change.op !== 'insert')
      change.op = change.op === 'delete' ? 'insert' : change.op;
  }
  for (const change of byRecord.values()) {
    const deletedAt = change.fields![DELETED_AT_FIELD]?.value;
    if (typeof deletedAt === 'string') {
      change.op = 'delete';
      change.deletedAt = deletedAt;
    } else if (change.op === 'delete') {
      change.op = 'update';
    }
  }
  return [...byRecord.values()];
}

/** The pending (not yet acknowledged) fields of each record, as LWW states of the app's values (decoded). */
export function pendingStates(rows: readonly OutboxRow[]): Map<string, RecordState> {
  const states = new Map<string, RecordState>();
  for (const row of rows) {
    const key = recordKey(row.table, row.id);
    let state = states.get(key);
    if (!state) {
      state = emptyState();
      states.set(key, state);
    }
    for (const [field, f] of Object.entries(row.fields)) {
      state.data[field] = decodeValue(f.value, f.type);
      state.fieldTimestamps[field] = f.updatedAt;
    }
  }
  return states;
}
