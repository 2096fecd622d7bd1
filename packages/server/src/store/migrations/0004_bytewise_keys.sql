-- sync_records' key columns compare bytewise (COLLATE "C").
--
-- Why: every push inserts into three B-tree indexes keyed by these text columns, and under the
-- database's default collation (C.UTF-8, en_US.UTF-8, …) each key comparison goes through the
-- locale (strcoll): about a tenth of PostgreSQL's CPU in a push, in a profile of the push
-- benchmark. Our identifiers are restricted to a safe ASCII set, where bytewise order is what
-- any UTF-8 locale gives them anyway, and no statement orders by them for a reader.
-- Changing only the collation leaves the table as it is; the three indexes are rebuilt.
ALTER TABLE sync_records
  ALTER COLUMN user_id TYPE text COLLATE "C",
  ALTER COLUMN app_id TYPE text COLLATE "C",
  ALTER COLUMN table_name TYPE text COLLATE "C",
  ALTER COLUMN record_id TYPE text COLLATE "C";
