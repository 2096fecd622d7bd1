import type { Actor, Change, ServerChange } from './change.js';
import { DELETED_AT_FIELD } from './constants.js';
import {
  type Canonical,
  canonicalize,
  canonicalText,
  formatMicros,
  parseMicros,
  wireTime,
} from './cursor.js';
import { jsonEqual } from './json-value.js';
import type { ValueType } from './value-types.js';

/**
 * Field-level last-write-wins, as pure functions (no clock, no I/O: "now" is an argument).
 *
 *   incoming field ──┐
 *                    ├─ later timestamp? ── yes ─▶ accepted (state takes it)
 *   stored field ────┘        │ no
 *                             ├─ same value ─▶ no-op (idempotent retry, not a conflict)
 *                             └─ else ───────▶ lost (reported as a conflict)
 *
 * On a tie the stored value stays: the server is the arbiter, so every client converges on
 * what it holds.
 */

export interface TimedValue {
  value: unknown;
  updatedAt: Canonical;
  /** The value's type when it is not plain JSON (value-types.ts); it goes wherever the value goes. */
  type?: ValueType;
}

/** The merged state of one record. Its objects are `bare()`: no field name reaches Object.prototype. */
export interface RecordState {
  data: Record<string, unknown>;
  fieldTimestamps: Record<string, Canonical>;
  /** The types of the fields whose value is not plain JSON (value-types.ts); absent: none has one. */
  fieldTypes?: Record<string, ValueType>;
}

export interface LostField {
  field: string;
  clientValue: unknown;
  clientUpdatedAt: Canonical;
  clientType?: ValueType;
  serverValue: unknown;
  serverUpdatedAt: Canonical;
  serverType?: ValueType;
}

export interface MergeResult {
  state: RecordState;
  /** Fields that changed the state (value or timestamp). Empty: nothing to write. */
  accepted: Record<string, TimedValue>;
  lost: LostField[];
}

/**
 * The prototype of every object keyed by field names: empty, frozen, and itself without a
 * prototype, so a field named `__proto__` or `toString` is just an own property. Why not
 * `Object.create(null)`: V8 keeps such objects in dictionary mode, and reading, writing and
 * JSON.stringify of them cost about half as much again (a push builds several per change).
 */
const NO_PROTO: object = Object.freeze(Object.create(null));

/** An empty object for field names: nothing inherited, in V8's fast mode. */
export function bare<T>(): Record<string, T> {
  return Object.create(NO_PROTO);
}

export function emptyState(): RecordState {
  return { data: bare(), fieldTimestamps: bare() };
}

export function mergeFields(
  stored: RecordState | undefined,
  incoming: Record<string, TimedValue>,
): MergeResult {
  const state = stored ? cloneState(stored) : emptyState();
  const accepted = bare<TimedValue>();
  const lost: LostField[] = [];
  for (const field of Object.keys(incoming)) {
    const next = incoming[field]!;
    const storedAt = state.fieldTimestamps[field];
    const storedValue = state.data[field];
    const storedType = state.fieldTypes?.[field];
    if (storedAt === undefined || next.updatedAt > storedAt) {
      state.data[field] = next.value;
      state.fieldTimestamps[field] = next.updatedAt;
      // The type goes with the value: a value written without one is plain JSON.
      if (next.type !== undefined) {
        state.fieldTypes ??= bare();
        state.fieldTypes[field] = next.type;
      } else if (storedType !== undefined) delete state.fieldTypes![field];
      accepted[field] = next;
    } else if (!jsonEqual(next.value, storedValue) || !jsonEqual(next.type, storedType)) {
      const l: LostField = {
        field,
        clientValue: next.value,
        clientUpdatedAt: next.updatedAt,
        serverValue: storedValue,
        serverUpdatedAt: storedAt,
      };
      if (next.type !== undefined) l.clientType = next.type;
      if (storedType !== undefined) l.serverType = storedType;
      lost.push(l);
    }
  }
  return { state, accepted, lost };
}

function cloneState(s: RecordState): RecordState {
  const state: RecordState = {
    data: Object.assign(bare(), s.data),
    fieldTimestamps: Object.assign(bare<Canonical>(), s.fieldTimestamps),
  };
  if (s.fieldTypes !== undefined) state.fieldTypes = Object.assign(bare<ValueType>(), s.fieldTypes);
  return state;
}

/**
 * Builds a RecordState from stored columns, dropping anything that is not a timestamped field.
 * `fieldTypes` (null or absent: no field has a type) keeps the types of timestamped fields.
 */
export function stateFrom(
  data: Record<string, unknown>,
  fieldTimestamps: Record<string, string>,
  fieldTypes?: Record<string, ValueType> | null,
): RecordState {
  const state = emptyState();
  for (const [field, at] of Object.entries(fieldTimestamps)) {
    state.fieldTimestamps[field] = at as Canonical;
    state.data[field] = Object.hasOwn(data, field) ? data[field] : null;
  }
  if (fieldTypes) {
    const types = bare<ValueType>();
    let typed = false;
    for (const field of Object.keys(fieldTypes)) {
      if (!Object.hasOwn(state.fieldTimestamps, field)) continue;
      types[field] = fieldTypes[field]!;
      typed = true;
    }
    if (typed) state.fieldTypes = types;
  }
  return state;
}

export interface NormalizeOptions {
  /** Server time, microseconds since the epoch (a number: most pushes never format it). */
  nowMicros: number;
  /** Timestamps further than this ahead of `now` are clamped to `now`. */
  maxSkewMicros: number;
}

/**
 * The fields a change sets, each with a canonical, skew-clamped timestamp.
 * `data` values without their own entry in `fields` take the record's own time (its
 * `updatedAt`, else `createdAt`, when that is a timestamp: what the Mana web app uses when it
 * applies an insert), else the change's newest field timestamp, else `now`. A `deletedAt`
 * timestamp on any change, or a `delete` (at `deletedAt`, else `now`), sets the `deletedAt`
 * field unless `fields` already carries it.
 *
 * `serverTimed`, when given, learns the fields whose time the server chose: `clamped` (too far
 * ahead) or `defaulted` (the change carried no time for them). The writer does not hold that
 * time, so the echo rule must send such a field back to it (SERVER_TIME_WRITER).
 */
export function changeFields(
  change: Change,
  opts: NormalizeOptions,
  serverTimed?: Map<string, 'clamped' | 'defaulted'>,
): Record<string, TimedValue> {
  const limit = opts.nowMicros + opts.maxSkewMicros;
  // `now` as text only where a timestamp needs it (formatMicros is cheap within a second).
  // No closure for it: under tsx (the benches and tests run the sources) every function
  // expression is named as it is made (an Object.defineProperty each time), and this runs for
  // every change.
  const out = bare<TimedValue>();
  let newest: Canonical | undefined;
  // Object.keys, not Object.entries: no array per field on the push's hot path.
  const fields = change.fields;
  if (fields) {
    for (const field of Object.keys(fields)) {
      const f = fields[field]!;
      let updatedAt = clamp(f.updatedAt, limit);
      if (updatedAt === undefined) {
        updatedAt = formatMicros(opts.nowMicros);
        serverTimed?.set(field, 'clamped');
      }
      out[field] =
        f.type === undefined ? { value: f.value, updatedAt } : { value: f.value, updatedAt, type: f.type };
      if (newest === undefined || updatedAt > newest) newest = updatedAt;
    }
  }
  const data = change.data;
  if (data) {
    const own = recordTime(data, opts);
    const at = own?.at ?? newest ?? formatMicros(opts.nowMicros);
    const chosen = own?.clamped ? 'clamped' : own === undefined && newest === undefined ? 'defaulted' : null;
    for (const field of Object.keys(data)) {
      if (field in out) continue;
      out[field] = { value: data[field], updatedAt: at };
      if (chosen) serverTimed?.set(field, chosen);
    }
  }
  if ((change.op === 'delete' || change.deletedAt) && !(DELETED_AT_FIELD in out)) {
    const given = change.deletedAt ? clamp(change.deletedAt, limit) : undefined;
    const at = given ?? formatMicros(opts.nowMicros);
    out[DELETED_AT_FIELD] = { value: at, updatedAt: at };
    if (given === undefined) serverTimed?.set(DELETED_AT_FIELD, change.deletedAt ? 'clamped' : 'defaulted');
  }
  return out;
}

/**
 * Drops from `incoming` the fields whose server-chosen time (`serverTimed`, from changeFields)
 * would rewrite what is stored for nothing, so that a push retried after a lost answer changes
 * nothing even without times of its own (DESIGN.md section 4):
 * - the value is the one stored: nothing to change but the time;
 * - a delete without `deletedAt` of a record already deleted;
 * - an `insert` without times of a field the record already holds: the insert created it, and
 *   a later edit (another device's, with its time) must not lose to a retried insert.
 */
export function settleServerTimed(
  stored: RecordState | undefined,
  change: Change,
  incoming: Record<string, TimedValue>,
  serverTimed: Map<string, 'clamped' | 'defaulted'>,
): void {
  if (stored === undefined) return;
  for (const [field, how] of serverTimed) {
    if (!Object.hasOwn(stored.fieldTimestamps, field)) continue;
    const storedValue = stored.data[field];
    const next = incoming[field]!;
    const same = jsonEqual(next.value, storedValue) && jsonEqual(next.type, stored.fieldTypes?.[field]);
    const alreadyDeleted = field === DELETED_AT_FIELD && how === 'defaulted' && isDeleted(stored);
    const created = change.op === 'insert' && how === 'defaulted' && field !== DELETED_AT_FIELD;
    if (same || alreadyDeleted || created) {
      delete incoming[field];
      serverTimed.delete(field);
    }
  }
}

/** A record's own time from its data: `updatedAt`, else `createdAt`, when a timestamp (clamped). */
function recordTime(
  data: Record<string, unknown>,
  opts: NormalizeOptions,
): { at: Canonical; clamped: boolean } | undefined {
  for (const key of RECORD_TIME_FIELDS) {
    const v = data[key];
    if (typeof v !== 'string' || v.length > 64) continue;
    const micros = parseMicros(v);
    if (micros === null) continue;
    if (micros > opts.nowMicros + opts.maxSkewMicros)
      return { at: formatMicros(opts.nowMicros), clamped: true };
    return { at: canonicalText(v, micros), clamped: false };
  }
  return undefined;
}

const RECORD_TIME_FIELDS = ['updatedAt', 'createdAt'] as const;

/** A timestamp made canonical; undefined when it is more than the allowed skew ahead (take `now`). */
function clamp(input: string, limitMicros: number): Canonical | undefined {
  const micros = parseMicros(input);
  if (micros === null) throw new TypeError(`not a timestamp: ${input}`);
  return micros > limitMicros ? undefined : canonicalText(input, micros);
}

/** True when the merged state says the record is deleted. */
export function isDeleted(state: RecordState): boolean {
  const v = state.data[DELETED_AT_FIELD];
  return v !== null && v !== undefined && v !== false;
}

/**
 * Who wrote each field of a stored record: `writer` (the record's last writer) wrote every
 * field not in `writers`; `actors` holds the actor of each field written with one.
 */
export interface FieldWriters {
  writer: string;
  writers: Record<string, string>;
  actors: Record<string, Actor> | null;
}

/**
 * The wire form of a stored record for a client, or null when there is nothing to send it.
 *
 * Echo rule: fields whose stored value and timestamp the asking client (`echo`) wrote itself
 * are left out (what it holds is what the server holds); every other field goes out. A
 * record left with no field is skipped (null), and the caller's cursor still moves past it.
 * A live record is an `update` (the Mana web app applies it field by field and creates a
 * missing record from it); a deleted one a `delete` with its `deletedAt`.
 */
export function toServerChange(
  table: string,
  id: string,
  state: RecordState,
  position: Canonical,
  eventId: string,
  who: FieldWriters | undefined,
  echo: string | null,
): ServerChange | null {
  const fields = bare<ServerChange['fields'][string]>();
  let sent = 0;
  let newest: string | undefined;
  let actor: Actor | undefined;
  for (const field of Object.keys(state.fieldTimestamps)) {
    if (who !== undefined && echo !== null && (who.writers[field] ?? who.writer) === echo) continue;
    const at = state.fieldTimestamps[field]!;
    const value = state.data[field] ?? null;
    const a = who?.actors?.[field];
    const type = state.fieldTypes?.[field];
    const f: ServerChange['fields'][string] = { value, updatedAt: wireTime(at) };
    if (type !== undefined) f.type = type;
    if (a) f.actor = a;
    fields[field] = f;
    sent++;
    if (newest === undefined || at > newest) {
      newest = at;
      actor = a;
    }
  }
  const deleted = isDeleted(state);
  if (sent === 0) return null;
  const change: ServerChange = {
    table,
    id,
    op: deleted ? 'delete' : 'update',
    fields,
    updatedAt: position,
    eventId,
  };
  if (deleted) {
    const at = String(state.data[DELETED_AT_FIELD]);
    const canonical = canonicalize(at);
    change.deletedAt = canonical ? wireTime(canonical) : at;
  }
  if (actor) change.actor = actor;
  return change;
}
