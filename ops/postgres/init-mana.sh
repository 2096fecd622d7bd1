#!/bin/sh
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d).
# The image makes POSTGRES_USER a superuser, which row-level security does not bind; mana-sync
# runs as `mana`, a plain role that owns its database (docs/operations.md, "Database role").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE mana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '${MANA_PASSWORD}';
CREATE DATABASE mana_sync OWNER mana;
SQL
