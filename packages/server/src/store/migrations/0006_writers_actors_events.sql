-- Who wrote each field, with which actor, and the record's latest log row: what a server
-- change needs to leave out the asking client's own fields (echo), to attribute fields, and
-- to carry an eventId (the Mana web app's contract, DESIGN.md section 12).
--
-- sync_records.last_client_id wrote every field not named in field_writers (field → client
-- id), so a record written by one device, the common case, stores '{}' here. field_actors
-- (field → actor object) is null until a change carries an actor. event_id is the id of the
-- sync_changes row of the record's latest accepted change (null for records written before
-- this migration: their eventId is then their position).
ALTER TABLE sync_records
  ADD COLUMN IF NOT EXISTS field_writers JSONB NOT NULL DEFAULT '{}',
  ADD COLUMN IF NOT EXISTS field_actors JSONB,
  ADD COLUMN IF NOT EXISTS event_id UUID;
ALTER TABLE sync_records
  ALTER COLUMN field_writers SET STATISTICS 0,
  ALTER COLUMN field_actors SET STATISTICS 0,
  ALTER COLUMN event_id SET STATISTICS 0;

-- The Go service's later columns (its migrations add them the same way), so a database it
-- used and one this server created have one shape: the change format's version, the actor,
-- and the space (sharing; null: the author's personal space).
ALTER TABLE sync_changes
  ADD COLUMN IF NOT EXISTS schema_version INT NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS actor JSONB,
  ADD COLUMN IF NOT EXISTS space_id TEXT;

-- merged: the row's change is in sync_records. This server writes true with every log row;
-- rows the Go service wrote get the default, false, and the takeover (store/takeover.ts)
-- merges them and sets it. Log rows already here when sync_records has records were written
-- by this server. The partial index finds the rows to take over without reading the others.
ALTER TABLE sync_changes ADD COLUMN IF NOT EXISTS merged BOOLEAN NOT NULL DEFAULT false;
UPDATE sync_changes SET merged = true WHERE NOT merged AND EXISTS (SELECT 1 FROM sync_records);
CREATE INDEX IF NOT EXISTS sync_changes_unmerged ON sync_changes (user_id, created_at) WHERE NOT merged;
