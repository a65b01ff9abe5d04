#!/usr/bin/env bash
# postgres.sh - a throwaway PostgreSQL server for tests and benches (the
# AppView's shared database when several instances run): Debian's
# postgresql-15 binaries (initdb, pg_ctl), a private cluster on a private
# port and socket dir, run as a non-root user (PostgreSQL refuses root; as
# root it runs as the `postgres` system user). Trust authentication on
# 127.0.0.1 only; a database "atcr" owned by the user "atcr".
#
#   scripts/postgres.sh start   start it (or reuse the one running), print its env
#   scripts/postgres.sh env     print the env of the running one (fails if none)
#   scripts/postgres.sh reset   drop and recreate the database "atcr" (empty)
#   scripts/postgres.sh database NAME   a fresh, empty database NAME (dropped
#                               first if it exists): prints its URL
#   scripts/postgres.sh stop    stop the server this script started
#
# The env printed, for `eval` or `export`:
#   ATCR_TEST_DATABASE_URL=postgres://atcr@127.0.0.1:PORT/atcr
# Env knobs:
#   ATCR_PG_DIR   cluster, socket and log    (default /tmp/atcr-pg-<uid>)
#   ATCR_PG_PORT  port                       (default 5433)
# Concurrent starts are serialised with a lock. Never installs anything.
set -euo pipefail
LOG_TAG=postgres
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="${ATCR_PG_DIR:-/tmp/atcr-pg-$(id -u)}"
PORT="${ATCR_PG_PORT:-5433}"
URL="postgres://atcr@127.0.0.1:$PORT/atcr"

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
  die "PostgreSQL is not installed (no initdb): run scripts/setup-deps.sh (as root) first"
}
BIN="$(bindir)"

# as_owner CMD...: runs CMD as the cluster's owner (postgres when we are root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

psql_admin() { PGOPTIONS="-c client_min_messages=warning" as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/sock" -p "$PORT" -d postgres "$@"; }
ready() { as_owner "$BIN/pg_isready" -q -h "$DIR/sock" -p "$PORT"; }
running() { [ -s "$DIR/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }
print_env() { echo "ATCR_TEST_DATABASE_URL=$URL"; }

# create_db [NAME]: a fresh database NAME (default atcr) owned by atcr.
create_db() {
  local name="${1:-atcr}"
  [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database names are [a-z_][a-z0-9_]*"
  psql_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
             -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atcr') THEN CREATE ROLE atcr LOGIN; END IF; END \$\$" \
             -c "CREATE DATABASE $name OWNER atcr"
}

start() {
  if running && ready; then print_env; return 0; fi
  port_taken "$PORT" && die "port $PORT is taken (set ATCR_PG_PORT)"
  rm -rf "$DIR"
  mkdir -p "$DIR/sock" "$DIR/log"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$DIR"
  as_owner "$BIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --no-sync >"$DIR/log/initdb.log" 2>&1 ||
    { tail -20 "$DIR/log/initdb.log" >&2; die "initdb failed"; }
  cat >>"$DIR/data/postgresql.conf" <<CONF
# scripts/postgres.sh: loopback only, a private socket dir, throwaway data.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR/sock'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
log_min_messages = warning
CONF
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log/postgres.log" -w -t 30 start >/dev/null 9>&- ||
    { tail -20 "$DIR/log/postgres.log" >&2; die "pg_ctl start failed"; }
  create_db
  log "PostgreSQL on 127.0.0.1:$PORT ($DIR)"
  print_env
}

stop() {
  if [ -s "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    log "stopped"
  fi
}

case "${1:-}" in
  start)
    mkdir -p "$(dirname "$DIR")"
    exec 9>"$DIR.lock"
    flock 9
    start ;;
  env) running && ready || die "no PostgreSQL running in $DIR"; print_env ;;
  reset) running || die "no PostgreSQL running in $DIR"; create_db ;;
  database)
    running || die "no PostgreSQL running in $DIR"
    create_db "${2:-}"
    echo "postgres://atcr@127.0.0.1:$PORT/$2" ;;
  stop) stop ;;
  *) die "usage: $0 start|env|reset|database NAME|stop" ;;
esac
