import { LIMITS } from './constants.js';

/**
 * The size of a record and of its field values, as the limits count them (LIMITS.maxValueLength,
 * maxRecordLength, maxFieldsPerRecord): characters of JSON text, as JSON.stringify writes it,
 * except that a string counts its own length (its escapes are not counted). Why so: a string,
 * the bulk of every large value, costs nothing to measure, so the server measures every record
 * a push writes, and the client every record an app writes, without serializing it.
 */
function valueLength(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  if (value === null || value === undefined) return 4;
  if (typeof value !== 'object') return String(value).length;
  return JSON.stringify(value)?.length ?? 4;
}

/** A record's fields (name to value) as JSON text, counted as valueLength counts. */
function recordLength(data: Record<string, unknown>): number {
  let n = 2;
  for (const field in data) n += field.length + 4 + valueLength(data[field]);
  return n;
}

/** What a write breaks, if anything: the limit's error code and a message naming it. */
export interface SizeProblem {
  code: 'RECORD_TOO_LARGE' | 'TOO_MANY_FIELDS';
  message: string;
  /** The field whose value is too large (absent: the record as a whole). */
  field?: string;
}

/**
 * Why writing `after` over `before` (undefined: a new record) breaks a limit, or null. A limit
 * refuses growth past it, never an edit of what exists: a record imported over a limit stays
 * editable as long as the edit does not make it larger (a field, a value) than it was.
 * `changed`: the fields the write sets (default: every field of `after`).
 */
export function sizeProblem(
  after: Record<string, unknown>,
  before: Record<string, unknown> | undefined,
  changed: Iterable<string> = Object.keys(after),
): SizeProblem | null {
  for (const field of changed) {
    const length = valueLength(after[field]);
    if (length > LIMITS.maxValueLength && (before === undefined || length > valueLength(before[field])))
      return {
        code: 'RECORD_TOO_LARGE',
        field,
        message: `field "${field}" is ${length} characters of JSON, more than ${LIMITS.maxValueLength}; store large content as an attachment`,
      };
  }
  const fields = Object.keys(after).length;
  if (fields > LIMITS.maxFieldsPerRecord && (before === undefined || fields > Object.keys(before).length))
    return {
      code: 'TOO_MANY_FIELDS',
      message: `the record would have ${fields} fields, more than ${LIMITS.maxFieldsPerRecord}`,
    };
  const length = recordLength(after);
  if (length > LIMITS.maxRecordLength && (before === undefined || length > recordLength(before)))
    return {
      code: 'RECORD_TOO_LARGE',
      message: `the record would be ${length} characters of JSON, more than ${LIMITS.maxRecordLength}; store large content as an attachment`,
    };
  return null;
}
