#!/usr/bin/env bash
# with-s3.sh PROGRAM [ARGS...]: runs PROGRAM with S3_ENDPOINT, S3_ACCESS_KEY,
# ... set for a local radosgw, started by scripts/s3.sh if none is running.
# The server is left running for the next test (it takes ~20 s to start);
# `scripts/s3.sh stop` stops it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
env_lines="$(bash "$root/scripts/s3.sh" start)" || {
  echo "with-s3: scripts/s3.sh start failed (above)" >&2
  exit 1
}
while IFS='=' read -r name value; do
  case "$name" in S3_*) export "$name=$value" ;; esac
done <<<"$env_lines"
exec "$@"
