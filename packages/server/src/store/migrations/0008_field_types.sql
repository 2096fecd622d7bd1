-- Value types (protocol 3, @mana/sync-protocol value-types.ts): a field whose value is not plain
-- JSON (a Date, a Map, bytes…) is pushed with a `type` beside its JSON value. The server never
-- reads it: it stores it with the field, sends it back with the value, and drops it when the
-- field is written again without one.
--
-- sync_records.field_types: field → type, null when no field has one (the common case: no
-- bytes spent on records of plain JSON). sync_changes.field_types: the same for the fields a
-- log row wrote, so history keeps them. Like field_actors (0006): never filtered on.
ALTER TABLE sync_records ADD COLUMN IF NOT EXISTS field_types JSONB;
ALTER TABLE sync_records ALTER COLUMN field_types SET STATISTICS 0;
ALTER TABLE sync_changes ADD COLUMN IF NOT EXISTS field_types JSONB;
