#!/usr/bin/env bash
# Rebuilds .sqlx/, the compile-time query cache, after a query or migration changes: applies
# every migration to a scratch database, then compiles the queries against it.
set -euo pipefail
cd "$(dirname "$0")/.."
server="${DEV_DATABASE_SERVER:-postgres://postgres:postgres@127.0.0.1:5432}"
db="${QUERYCACHE_DB:-accredito_querycache}"
psql "$server/postgres" -qc "drop database if exists $db" -c "create database $db"
for migration in migrations/*.sql; do
  psql "$server/$db" -q -v ON_ERROR_STOP=1 -f "$migration"
done
rm -rf .sqlx && mkdir .sqlx
touch src/lib.rs
DATABASE_URL="$server/$db" SQLX_OFFLINE=false cargo check --all-targets --quiet
psql "$server/postgres" -qc "drop database $db"
echo "refreshed .sqlx/ ($(ls .sqlx | wc -l) queries); commit it with the change"
