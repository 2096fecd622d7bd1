-- The seed's append-only change log: history, audit and replay. One row per accepted change.
CREATE TABLE IF NOT EXISTS sync_changes (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  app_id TEXT NOT NULL,
  table_name TEXT NOT NULL,
  record_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  data JSONB,
  field_timestamps JSONB DEFAULT '{}',
  client_id TEXT NOT NULL,
  created_at TIMESTAMPTZ DEFAULT now()
);
-- On a database the Go mana-sync service created, the table is its own, and so are these three
-- indexes under other names (idx_sync_changes_user_app, _table_record, _since): they are kept,
-- and not built a second time (store/takeover.ts merges its rows).
DO $$
BEGIN
  IF to_regclass('idx_sync_changes_user_app') IS NULL THEN
    CREATE INDEX IF NOT EXISTS sync_changes_user_app_created ON sync_changes (user_id, app_id, created_at);
  END IF;
  IF to_regclass('idx_sync_changes_table_record') IS NULL THEN
    CREATE INDEX IF NOT EXISTS sync_changes_table_record_created ON sync_changes (table_name, record_id, created_at);
  END IF;
  IF to_regclass('idx_sync_changes_since') IS NULL THEN
    CREATE INDEX IF NOT EXISTS sync_changes_user_app_table_created ON sync_changes (user_id, app_id, table_name, created_at);
  END IF;
END $$;

-- The merged state: one row per record. Pull and conflict detection read this, never the log.
-- updated_at is the record's cursor position: strictly increasing per user in commit order.
CREATE TABLE IF NOT EXISTS sync_records (
  user_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  table_name TEXT NOT NULL,
  record_id TEXT NOT NULL,
  data JSONB NOT NULL,
  field_timestamps JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  last_client_id TEXT NOT NULL,
  PRIMARY KEY (user_id, app_id, table_name, record_id)
);
CREATE INDEX IF NOT EXISTS sync_records_pull ON sync_records (user_id, app_id, table_name, updated_at);
CREATE INDEX IF NOT EXISTS sync_records_app ON sync_records (user_id, app_id, updated_at);

-- One row per user: the lock that serializes a user's pushes and the last cursor position given out.
CREATE TABLE IF NOT EXISTS sync_users (
  user_id TEXT PRIMARY KEY,
  last_position TIMESTAMPTZ NOT NULL
);

-- Canonical cursor text: ISO-8601 UTC with exactly six fractional digits.
CREATE OR REPLACE FUNCTION mana_cursor(ts TIMESTAMPTZ) RETURNS TEXT
  LANGUAGE SQL IMMUTABLE STRICT
  AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
