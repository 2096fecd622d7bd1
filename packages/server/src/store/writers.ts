import { type Actor, bare, type FieldWriters } from '@mana/sync-protocol';

/**
 * Who wrote each field of a record (the echo rule and actors of DESIGN.md section 12), as
 * stored: `last_client_id` wrote every field not in `field_writers`; `field_actors` is null
 * until a change carries an actor. A record written by one device stores `{}` and null.
 */

export interface WritersRow {
  last_client_id: string;
  field_writers: Record<string, string>;
  field_actors: Record<string, Actor> | null;
}

/**
 * The stored columns as FieldWriters. Copied into `bare()` objects only when not empty, so
 * that a field named like an Object.prototype member (`toString`) is never found inherited.
 */
export function writersFrom(row: WritersRow): FieldWriters {
  return {
    writer: row.last_client_id,
    writers: isEmpty(row.field_writers) ? bare() : Object.assign(bare<string>(), row.field_writers),
    actors: row.field_actors === null ? null : Object.assign(bare<Actor>(), row.field_actors),
  };
}

/**
 * `who` after `clientId` wrote `accepted` (with `actor`, if any) into a record whose fields
 * are now `fields`. Undefined `who`: a new record. Mutates and returns `who`.
 */
export function markWritten(
  who: FieldWriters | undefined,
  fields: Record<string, unknown>,
  accepted: Record<string, unknown>,
  clientId: string,
  actor: Actor | null | undefined,
): FieldWriters {
  if (who === undefined) who = { writer: clientId, writers: bare(), actors: null };
  else if (who.writer !== clientId) {
    // The record's last writer changes: the fields the old one wrote and this change does not
    // touch get it named explicitly, and the new writer's explicit entries go.
    const old = who.writer;
    for (const field of Object.keys(fields)) {
      const w = who.writers[field];
      if (w === undefined) {
        if (!(field in accepted)) who.writers[field] = old;
      } else if (w === clientId) delete who.writers[field];
    }
    who.writer = clientId;
  }
  if (actor && who.actors === null) who.actors = bare();
  for (const field of Object.keys(accepted)) {
    delete who.writers[field];
    if (who.actors === null) continue;
    if (actor) who.actors[field] = actor;
    else delete who.actors[field];
  }
  if (who.actors !== null && isEmpty(who.actors)) who.actors = null;
  return who;
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
