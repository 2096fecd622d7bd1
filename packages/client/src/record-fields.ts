import {
  bare,
  type Canonical,
  DELETED_AT_FIELD,
  type EncodedValue,
  encodeValue,
  fieldNameSchema,
  hasBlobs,
  jsonEqual,
  LIMITS,
  readBlobs,
  recordIdSchema,
  sizeProblem,
  ValueEncodingError,
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

/** A record's syncable fields, encoded for the wire (value-types.ts); Blobs until `readRecordBlobs`. */
export interface EncodedRecord {
  id: string;
  fields: Record<string, EncodedValue>;
}

/**
 * The record's id and every field encoded, or InvalidRecordError naming the record, the field
 * and the part that cannot sync. Fields holding `undefined` are left out (Dexie treats them as
 * absent: `update(id, {f: undefined})` deletes `f`).
 */
export function encodeRecord(table: string, value: unknown): EncodedRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRecordError(`${table}: a synced record must be an object`);
  }
  const id = (value as Record<string, unknown>)[ID_FIELD];
  if (typeof id !== 'string' || !recordIdSchema.safeParse(id).success) {
    throw new InvalidRecordError(
      `${table}: a synced record needs a string "id" of letters, digits and _ . : @ + = ~ -, at most ${LIMITS.maxRecordIdLength} characters (got ${JSON.stringify(id).slice(0, 80)})`,
    );
  }
  const fields = bare<EncodedValue>();
  for (const [field, v] of Object.entries(value)) {
    if (field === ID_FIELD || v === undefined) continue;
    if (field === DELETED_AT_FIELD) {
      throw new InvalidRecordError(`${table}/${id}: "${DELETED_AT_FIELD}" is reserved for sync deletes`);
    }
    if (!fieldNameSchema.safeParse(field).success) {
      throw new InvalidRecordError(`${table}/${id}: field name "${field}" cannot be synced`);
    }
    try {
      fields[field] = encodeValue(v);
    } catch (err) {
      if (!(err instanceof ValueEncodingError)) throw err;
      const at =
        err.path === '' ? field : err.path.startsWith('[') ? `${field}${err.path}` : `${field}.${err.path}`;
      throw new InvalidRecordError(`${table}/${id}.${at}: ${err.problem}`);
    }
  }
  return { id, fields };
}

/** The checks of `encodeRecord`, for a record's id alone. */
export const checkRecord = (table: string, value: unknown): string => encodeRecord(table, value).id;

/**
 * A stored record's fields as they were synced, for comparison with a new version: a field
 * that cannot be encoded (only a record held back from before sync can have one) is left out,
 * so any new value of it counts as a change.
 */
export function encodeStored(value: Record<string, unknown>): Record<string, EncodedValue> {
  const fields = bare<EncodedValue>();
  for (const [field, v] of Object.entries(value)) {
    if (field === ID_FIELD || v === undefined) continue;
    try {
      fields[field] = encodeValue(v);
    } catch {}
  }
  return fields;
}

/**
 * Refuses a write the server would refuse for its size (LIMITS: a field value, the record, its
 * fields), counted as the server counts it (record-size.ts): the encoded values (a Blob as its
 * base64, so after readRecordBlobs), with `deletedAt`. `before`: the stored record's fields
 * (undefined: a new record); as on the server, a record already over a limit stays editable,
 * only growth past a limit is refused.
 */
export function checkRecordSize(
  table: string,
  record: EncodedRecord,
  before?: Record<string, EncodedValue>,
): void {
  const after = syncedData(record.fields);
  const old = before === undefined ? undefined : syncedData(before);
  const changed =
    old === undefined ? undefined : Object.keys(after).filter((f) => !jsonEqual(after[f], old[f]));
  const problem = sizeProblem(after, old, changed);
  if (problem)
    throw new InvalidRecordError(
      `${table}/${record.id}${problem.field ? `.${problem.field}` : ''}: ${problem.message}`,
    );
}

function syncedData(fields: Record<string, EncodedValue>): Record<string, unknown> {
  const data: Record<string, unknown> = bare();
  for (const field of Object.keys(fields)) data[field] = fields[field]!.value;
  data[DELETED_AT_FIELD] ??= null;
  return data;
}

/** True when some field holds a Blob or File, whose contents only an async read gives. */
export const holdsBlobs = (fields: Record<string, EncodedValue>): boolean =>
  Object.values(fields).some((f) => hasBlobs(f.type));

/** Replaces each Blob of the fields by its base64 contents, in place. */
export async function readRecordBlobs(fields: Record<string, EncodedValue>): Promise<void> {
  for (const field of Object.keys(fields)) {
    if (hasBlobs(fields[field]!.type)) fields[field] = await readBlobs(fields[field]!);
  }
}

const timed = (e: EncodedValue, at: Canonical): Fields[string] =>
  e.type === undefined ? { value: e.value, updatedAt: at } : { value: e.value, updatedAt: at, type: e.type };

/** Every field of a new record, plus `deletedAt: null` so re-adding a deleted id undeletes it. */
export function insertFields(record: EncodedRecord, at: Canonical): Fields {
  const fields: Fields = bare();
  for (const field of Object.keys(record.fields)) fields[field] = timed(record.fields[field]!, at);
  fields[DELETED_AT_FIELD] = { value: null, updatedAt: at };
  return fields;
}

/** A field that is no longer in the record: `undefined`, as other devices apply it (removed). */
const REMOVED: EncodedValue = encodeValue(undefined);

/**
 * Fields that differ between the stored row and the new one, compared as they travel (value
 * and type: a Date and its ISO string differ); a removed field goes as `undefined`.
 */
export function changedFields(
  before: Record<string, EncodedValue>,
  after: EncodedRecord,
  at: Canonical,
): Fields {
  const fields: Fields = bare();
  for (const field of new Set([...Object.keys(before), ...Object.keys(after.fields)])) {
    // A field that cannot sync (only an old record can hold one) never synced: removing it is
    // no change to send.
    if (!fieldNameSchema.safeParse(field).success) continue;
    const a = after.fields[field] ?? REMOVED;
    const b = before[field] ?? REMOVED;
    if (!jsonEqual(a.value, b.value) || !jsonEqual(a.type, b.type)) fields[field] = timed(a, at);
  }
  return fields;
}

/** A key the server takes as a record id; records under any other never synced (held-back.ts). */
export const isSyncableId = (key: unknown): key is string =>
  typeof key === 'string' && recordIdSchema.safeParse(key).success;

export function deleteFields(at: Canonical): Fields {
  return { [DELETED_AT_FIELD]: { value: at, updatedAt: at } };
}
