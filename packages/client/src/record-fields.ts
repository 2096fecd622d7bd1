import {
  bare,
  type Canonical,
  DELETED_AT_FIELD,
  fieldNameSchema,
  jsonEqual,
  jsonValueProblem,
  recordIdSchema,
  sizeProblem,
} from '@mana/sync-protocol';
import type { OutboxRow } from './schema.js';

/** The primary key of every synced table. */
export const ID_FIELD = 'id';

type Fields = OutboxRow['fields'];

/**
 * A write the server would refuse is refused here, in the app's own call, so it can never
 * sit in the outbox and block every later change behind it.
 */
export class InvalidRecordError extends TypeError {
  override name = 'InvalidRecordError';
}

export function checkRecord(table: string, value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRecordError(`${table}: a synced record must be an object`);
  }
  const id = (value as Record<string, unknown>)[ID_FIELD];
  if (typeof id !== 'string' || !recordIdSchema.safeParse(id).success) {
    throw new InvalidRecordError(
      `${table}: a synced record needs a string "id" of letters, digits and _ . : @ + = ~ - (got ${JSON.stringify(id)})`,
    );
  }
  for (const [field, v] of Object.entries(value)) {
    if (field === ID_FIELD || v === undefined) continue;
    if (field === DELETED_AT_FIELD) {
      throw new InvalidRecordError(`${table}/${id}: "${DELETED_AT_FIELD}" is reserved for sync deletes`);
    }
    if (!fieldNameSchema.safeParse(field).success) {
      throw new InvalidRecordError(`${table}/${id}: field name "${field}" cannot be synced`);
    }
    const problem = jsonValueProblem(v) ?? plainProblem(v);
    if (problem) throw new InvalidRecordError(`${table}/${id}.${field}: ${problem}`);
  }
  return id;
}

/**
 * Refuses a write the server would refuse for its size (LIMITS: a field value, the record, its
 * fields), as the server counts it (record-size.ts): the record as it syncs, without its id and
 * with `deletedAt`. `before`: the stored record (undefined: a new one); as on the server, a
 * record already over a limit stays editable, only growth past a limit is refused.
 */
export function checkRecordSize(
  table: string,
  id: string,
  value: Record<string, unknown>,
  before?: Record<string, unknown>,
): void {
  const after = syncedFields(value);
  const old = before === undefined ? undefined : syncedFields(before);
  const changed =
    old === undefined ? undefined : Object.keys(after).filter((f) => !jsonEqual(after[f], old[f]));
  const problem = sizeProblem(after, old, changed);
  if (problem)
    throw new InvalidRecordError(
      `${table}/${id}${problem.field ? `.${problem.field}` : ''}: ${problem.message}`,
    );
}

function syncedFields(value: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = bare();
  for (const [field, v] of Object.entries(value))
    if (field !== ID_FIELD && v !== undefined) fields[field] = v;
  fields[DELETED_AT_FIELD] ??= null;
  return fields;
}

/** JSON round trips only plain objects and arrays: a Date would come back as a string. */
function plainProblem(value: unknown): string | null {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    const proto = Object.getPrototypeOf(v);
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
      return `only JSON values sync (got ${proto?.constructor?.name ?? 'an object'}; store dates as ISO strings)`;
    }
    stack.push(...Object.values(v));
  }
  return null;
}

/** Every field of a new record, plus `deletedAt: null` so re-adding a deleted id undeletes it. */
export function insertFields(value: Record<string, unknown>, at: Canonical): Fields {
  const fields: Fields = bare();
  for (const [field, v] of Object.entries(value)) {
    if (field === ID_FIELD || v === undefined) continue;
    fields[field] = { value: v, updatedAt: at };
  }
  fields[DELETED_AT_FIELD] = { value: null, updatedAt: at };
  return fields;
}

/** Fields that differ between the stored row and the new one; a removed field becomes null. */
export function changedFields(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  at: Canonical,
): Fields {
  const fields: Fields = bare();
  for (const field of new Set([...Object.keys(before), ...Object.keys(after)])) {
    // A field that cannot sync (only an old record can hold one) never synced: removing it is
    // no change to send.
    if (field === ID_FIELD || !fieldNameSchema.safeParse(field).success) continue;
    const a = after[field];
    const b = before[field];
    if (a === undefined && b === undefined) continue;
    if (!jsonEqual(a ?? null, b ?? null)) fields[field] = { value: a ?? null, updatedAt: at };
  }
  return fields;
}

/** A key the server takes as a record id; records under any other never synced (held-back.ts). */
export const isSyncableId = (key: unknown): key is string =>
  typeof key === 'string' && recordIdSchema.safeParse(key).success;

export function deleteFields(at: Canonical): Fields {
  return { [DELETED_AT_FIELD]: { value: at, updatedAt: at } };
}
