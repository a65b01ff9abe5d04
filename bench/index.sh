#!/usr/bin/env bash
# bench/index.sh - the network index's ingestion throughput against the
# reference PDS (scripts/pds.sh, started or reused):
#   bash bench/index.sh [ACCOUNTS=50] [COMMITS=10]
# Runs $BUILD/bench/index_bench (default BUILD=build-bench, compiled if
# missing): firehose events/s (the PDS's stream ingested: signatures, MST
# checks, SQLite), backfill repos/s (listRepos + verified getRepo), and the
# peak RSS. Results: $BUILD/bench-results/index.txt.
set -euo pipefail
LOG_TAG=bench-index
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
. "$REPO_ROOT/bench/lib.sh"
cd "$REPO_ROOT"

BUILD="${BUILD:-build-bench}"
BIN="$BUILD/bench/index_bench"
ACCOUNTS="${1:-50}" COMMITS="${2:-10}"
if [ ! -x "$BIN" ]; then
  bench_compile "$BUILD" bench/index_bench
fi
env_out="$(bash scripts/pds.sh start)" || die "scripts/pds.sh start failed"
PDS_URL="$(sed -n 's/^PDS_URL=//p' <<<"$env_out")"
PLC_URL="$(sed -n 's/^PLC_URL=//p' <<<"$env_out")"
OUT="$BUILD/bench-results"
WORK="$(mktemp -d /tmp/atcr-index-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
"$BIN" "$PDS_URL" "$PLC_URL" "$WORK" "$ACCOUNTS" "$COMMITS" | tee "$OUT/index.txt"
