#!/usr/bin/env bash
# with-pds.sh PROGRAM [ARGS...]: runs PROGRAM against the reference PDS and
# did:plc directory on loopback, started by scripts/pds.sh if none is running
# (the first run installs them: several minutes). Exports:
#   PDS_URL PLC_URL PDS_ADMIN_PASSWORD PDS_DID PDS_HANDLE_DOMAIN  (scripts/pds.sh)
#   ATCR_NODE NODE_PATH  Node 22 + the reference packages (scripts/node-tools.sh)
#   ATCR_VERIFY_JWT      tests/integration/verify-jwt.mjs
# The servers are left running for the next test; `scripts/pds.sh stop`
# stops them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
env_lines="$(bash "$root/scripts/pds.sh" start)" || {
  echo "with-pds: scripts/pds.sh start failed (above)" >&2
  exit 1
}
while IFS='=' read -r name value; do
  case "$name" in PDS_* | PLC_*) export "$name=$value" ;; esac
done <<<"$env_lines"
# pds.sh ran scripts/node-tools.sh, which wrote this file.
. "${ATCR_CACHE:-${HOME:-/root}/.cache/atcr}/node-env.sh"
export ATCR_NODE NODE_PATH
export ATCR_VERIFY_JWT="$root/tests/integration/verify-jwt.mjs"
exec "$@"
