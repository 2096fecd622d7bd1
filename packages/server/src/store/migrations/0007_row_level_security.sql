-- Row-level security on the sync tables: a user's transaction sees and writes that user's rows
-- only.
--
-- Why: "every statement filters by user_id" is otherwise a code convention; with these
-- policies a statement that forgets the filter sees nothing of other users (and one with no
-- user set sees nothing at all) instead of everything. The server runs each statement in a
-- transaction that first does set_config('app.current_user_id', <user>, true)
-- (db/row-security.ts, Db.forUser), as the Go service did; the user isolation policies are
-- written exactly as the Go service wrote its one on sync_changes, so the DROP POLICY IF
-- EXISTS replaces that one on a database the Go service created.
--
-- FORCE: the server's role owns these tables (it migrates them), and RLS skips a table's owner
-- unless forced. A superuser or a role with BYPASSRLS still skips it: the server must not run as
-- one (it logs a warning at start when it does; docs/operations.md, "Database role").
--
-- The maintenance bypass. Operator commands read across users (`mana-sync compact`, `stats`,
-- the takeover of a Go database): they set mana_sync.maintenance = 'on' for their transaction,
-- through one function only (Db.maintenance in the db layer), and a second permissive policy
-- lets them through. Chosen over a separate role with BYPASSRLS: creating such a role takes a
-- superuser (an operator's `mana` user is not one, and should not need one to run compact),
-- and it would mean a second credential for every operator command. Like the user setting,
-- this one is no barrier against SQL run by someone who already holds the server's
-- connection: RLS here guards against a statement that forgets its filter, not against the
-- server's own role.
ALTER TABLE sync_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_records FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS sync_records_user_isolation ON sync_records;
CREATE POLICY sync_records_user_isolation ON sync_records
  USING (user_id = current_setting('app.current_user_id', true))
  WITH CHECK (user_id = current_setting('app.current_user_id', true));
DROP POLICY IF EXISTS sync_records_maintenance ON sync_records;
CREATE POLICY sync_records_maintenance ON sync_records
  USING (current_setting('mana_sync.maintenance', true) = 'on')
  WITH CHECK (current_setting('mana_sync.maintenance', true) = 'on');

ALTER TABLE sync_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_changes FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS sync_changes_user_isolation ON sync_changes;
CREATE POLICY sync_changes_user_isolation ON sync_changes
  USING (user_id = current_setting('app.current_user_id', true))
  WITH CHECK (user_id = current_setting('app.current_user_id', true));
DROP POLICY IF EXISTS sync_changes_maintenance ON sync_changes;
CREATE POLICY sync_changes_maintenance ON sync_changes
  USING (current_setting('mana_sync.maintenance', true) = 'on')
  WITH CHECK (current_setting('mana_sync.maintenance', true) = 'on');

ALTER TABLE sync_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_users FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS sync_users_user_isolation ON sync_users;
CREATE POLICY sync_users_user_isolation ON sync_users
  USING (user_id = current_setting('app.current_user_id', true))
  WITH CHECK (user_id = current_setting('app.current_user_id', true));
DROP POLICY IF EXISTS sync_users_maintenance ON sync_users;
CREATE POLICY sync_users_maintenance ON sync_users
  USING (current_setting('mana_sync.maintenance', true) = 'on')
  WITH CHECK (current_setting('mana_sync.maintenance', true) = 'on');
