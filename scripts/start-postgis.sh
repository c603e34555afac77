#!/usr/bin/env bash
# Install (if needed) and start PostgreSQL 15 + PostGIS 3 on this machine for the store tests.
# Prints the SQLAlchemy URL of a fresh test database on the last line, so CI can do:
#   export SITEWATCH_TEST_PG_URL=$(bash scripts/start-postgis.sh | tail -n 1)
# The store tests then run on SQLite and PostGIS (each test in its own schema).
set -euo pipefail
DB=${SITEWATCH_PG_DB:-sitewatch_test}
USER_NAME=sitewatch
PASS=sitewatch
PORT=${SITEWATCH_PG_PORT:-5432}

if ! command -v pg_ctlcluster >/dev/null || [ ! -d /usr/share/postgresql/15/extension ] \
   || ! ls /usr/share/postgresql/15/extension/postgis.control >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q postgresql-15 postgresql-15-postgis-3 >/dev/null
fi
if ! pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main"' | grep -q .; then
  pg_createcluster 15 main >/dev/null
fi
pg_ctlcluster 15 main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PORT"
as_pg() { su postgres -c "$*"; }
as_pg "psql -q -p $PORT -tc \"SELECT 1 FROM pg_roles WHERE rolname='$USER_NAME'\"" | grep -q 1 \
  || as_pg "psql -q -p $PORT -c \"CREATE ROLE $USER_NAME LOGIN SUPERUSER PASSWORD '$PASS'\""
as_pg "psql -q -p $PORT -tc \"SELECT 1 FROM pg_database WHERE datname='$DB'\"" | grep -q 1 \
  || as_pg "createdb -p $PORT -O $USER_NAME $DB"
as_pg "psql -q -p $PORT -d $DB -c 'CREATE EXTENSION IF NOT EXISTS postgis'"
echo "postgresql+psycopg://$USER_NAME:$PASS@127.0.0.1:$PORT/$DB"
