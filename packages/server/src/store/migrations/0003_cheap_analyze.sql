-- A cheap ANALYZE of sync_records: statistics only on the columns our queries filter or order
-- by, from a small sample.
--
-- Why: the store analyzes sync_records itself each time the table doubles (statistics.ts), and
-- autovacuum does so as it grows. With the default target (100) ANALYZE samples 30,000 rows and
-- sorts every column, the jsonb ones with jsonb comparisons: 330 ms of database CPU at 300,000
-- records here, about a sixth of the database's CPU while a table grows under push load. No
-- statement of ours filters or orders by data, field_timestamps, created_at or last_client_id,
-- so they get none; the planner's choices (primary-key probes, the pull and app indexes for
-- pages) need only the table's size and coarse shapes of the key columns, which a target of 10
-- (a 3,000-row sample) gives: the same ANALYZE then takes 20-30 ms.
ALTER TABLE sync_records
  ALTER COLUMN data SET STATISTICS 0,
  ALTER COLUMN field_timestamps SET STATISTICS 0,
  ALTER COLUMN created_at SET STATISTICS 0,
  ALTER COLUMN last_client_id SET STATISTICS 0,
  ALTER COLUMN app_id SET STATISTICS 10,
  ALTER COLUMN table_name SET STATISTICS 10,
  ALTER COLUMN record_id SET STATISTICS 10,
  ALTER COLUMN updated_at SET STATISTICS 10;
