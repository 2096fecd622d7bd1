-- No (user_id, app_id, updated_at) index on sync_records.
--
-- Why: it served one statement, the page of a push's response (the app's records after the
-- client's cursor), and every record write paid for keeping it: about a seventh of
-- PostgreSQL's CPU per change in the push benchmark. That page is now read from
-- sync_records_pull, table by table (store/sync-store.ts), at one extra index probe per table
-- of the app.
DROP INDEX IF EXISTS sync_records_app;
