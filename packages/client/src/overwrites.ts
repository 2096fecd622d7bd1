import { bare, type Canonical, DELETED_AT_FIELD, formatMicros, type TimedValue } from '@mana/sync-protocol';
import { ADOPTION_TIMESTAMP, type OutboxRow, type StateRow } from './schema.js';
import type { ConflictEvent } from './status.js';

/**
 * Overwritten edits, told on the device whose edit lost, whichever device synced first.
 *
 * When this device pushes after a concurrent edit elsewhere, its push loses and the answer says
 * so (a conflict). When it pushes first, its edit is accepted and only overwritten later, when
 * the other device's newer edit arrives. To tell that apart from an informed edit (made after
 * the other device could see this one), the device keeps, per field it wrote, the write's
 * timestamp and the moment the server acknowledged it:
 *
 *   incoming field newer than my write ── earlier than my ack? ── yes ─▶ concurrent: event
 *                                                    │ no
 *                                                    └────────────────▶ informed: news
 *
 * Either way the entry is settled and dropped: every later change of the field is newer still.
 * Kept as state rows `ack:<table>␀<id>` (one per record this device wrote), written in the
 * transaction that acknowledges the write, dropped with the record or the local data.
 */
const ACK = 'ack:';
export const ACK_PREFIX = ACK;
/** The state key of a record's entry, from its `recordKey`. */
export const ackKeyOf = (key: string) => `${ACK}${key}`;

/** Per field: [this device's write, when the server acknowledged it]. */
export type Acks = Record<string, [mine: Canonical, ackedAt: Canonical]>;

export const ackNow = (): Canonical => formatMicros(Date.now() * 1000);

/**
 * The incoming fields that overwrote a concurrent write of this device (`accepted`: the fields
 * that won over what the device holds), as conflict events; settles their entries in `acks`.
 */
export function overwrites(
  table: string,
  id: string,
  acks: Acks | undefined,
  accepted: Record<string, TimedValue>,
  before: Record<string, unknown> | undefined,
): ConflictEvent[] {
  if (!acks) return [];
  const events: ConflictEvent[] = [];
  for (const [field, next] of Object.entries(accepted)) {
    if (!Object.hasOwn(acks, field)) continue;
    const entry = acks[field]!;
    const [mine, ackedAt] = entry;
    if (next.updatedAt <= mine) continue; // not this field's later word
    delete acks[field];
    if (next.updatedAt >= ackedAt) continue; // written after it could see this device's edit
    const localValue = before?.[field] ?? null;
    events.push({
      table,
      id,
      field,
      clientValue: localValue,
      clientUpdatedAt: mine,
      serverValue: next.value,
      serverUpdatedAt: next.updatedAt,
      localValue,
    });
  }
  return events;
}

/**
 * Notes the acknowledged writes of one record (its outbox rows, `lost`: the fields that lost in
 * the push, already told as conflicts). Adopted records' fields merge under by design and are
 * not this device's edits; a delete ends the record's entries.
 */
export function noteAcknowledged(
  acks: Acks | undefined,
  rows: readonly OutboxRow[],
  lost: ReadonlySet<string>,
  ackedAt: Canonical,
): Acks | undefined {
  let next = acks;
  for (const row of rows) {
    for (const [field, f] of Object.entries(row.fields)) {
      if (field === DELETED_AT_FIELD) {
        if (typeof f.value === 'string') next = undefined;
        continue;
      }
      next ??= bare();
      if (lost.has(field) || f.updatedAt === ADOPTION_TIMESTAMP) delete next[field];
      else next[field] = [f.updatedAt, ackedAt];
    }
  }
  return next;
}

export const isEmpty = (acks: Acks | undefined) => !acks || Object.keys(acks).length === 0;

/** An entry as stored, its field names own properties only (a field may be named `toString`). */
export const ackFrom = (row: StateRow | undefined): Acks | undefined =>
  row ? Object.assign(bare<Acks[string]>(), row.value as Acks) : undefined;
