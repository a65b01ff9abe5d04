#!/usr/bin/env bash
# with-postgres.sh PROGRAM [ARGS...]: runs PROGRAM with ATCR_TEST_DATABASE_URL
# naming a PostgreSQL database on loopback, started by scripts/postgres.sh if
# none is running (a few seconds). The server is left running for the next
# test; `scripts/postgres.sh stop` stops it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
env_lines="$(bash "$root/scripts/postgres.sh" start)" || {
  echo "with-postgres: scripts/postgres.sh start failed (above)" >&2
  exit 1
}
while IFS='=' read -r name value; do
  case "$name" in ATCR_TEST_DATABASE_URL) export "$name=$value" ;; esac
done <<<"$env_lines"
exec "$@"
