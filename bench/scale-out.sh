#!/usr/bin/env bash
# bench/scale-out.sh - the AppView scaled out, in one run on this machine:
# manifest GET (by tag, anonymous, wrk) against
#   1. one instance on SQLite (the default; scripts/registry.sh's stack),
#   2. one instance on PostgreSQL behind haproxy,
#   3. two instances on one PostgreSQL database behind haproxy,
# with the ratio of each to the SQLite instance and each instance's peak RSS
# (and, to show what the load balancer's hop costs, instance 2 measured
# directly too).
# All share the reference PDS and the hold (filesystem) of the stack in 1.
#
#   bash bench/scale-out.sh            (DUR=10 s, CONNS=32, THREADS=2)
#   ATCR_BUILD=build bash bench/scale-out.sh   the build dir (default build-bench, release)
# Ports (127.0.0.1), each overridable: ATCR_APPVIEW_PORT (5021) and
# ATCR_HOLD_PORT (8093) for the stack, ATCR_BENCH_LB_PORT (5022),
# ATCR_BENCH_A_PORT (5023), ATCR_BENCH_B_PORT (5024); PostgreSQL takes
# ATCR_PG_PORT / ATCR_PG_DIR (scripts/postgres.sh). Results:
# $WORK/scale-out.txt.
set -euo pipefail
LOG_TAG=bench-scale-out
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
. "$REPO_ROOT/bench/lib.sh"
cd "$REPO_ROOT"

APPVIEW_PORT="${ATCR_APPVIEW_PORT:-5021}"
HOLD_PORT="${ATCR_HOLD_PORT:-8093}"
LB_PORT="${ATCR_BENCH_LB_PORT:-5022}"
A_PORT="${ATCR_BENCH_A_PORT:-5023}"
B_PORT="${ATCR_BENCH_B_PORT:-5024}"
DUR="${DUR:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"

bench_stack_setup scale-out wrk skopeo haproxy
STACK="$WORK/stack"
cleanup() {
  for d in haproxy appview-a appview-b; do stop_daemon "$WORK" "$d" "${d%%-*}"; done
  bench_stack_stop stack
}
trap cleanup EXIT

env_lines="$(bench_stack stack "$APPVIEW_PORT" "$HOLD_PORT")"
eval "$env_lines"
bash scripts/postgres.sh start >/dev/null || die "scripts/postgres.sh start failed"
DB_URL="$(bash scripts/postgres.sh database atcr_bench_scale_out | tail -1)"

# The image every row reads.
python3 tests/e2e/mkimage.py "$WORK/img" --tag v1 --layers 64K,64K >/dev/null
skopeo copy -q --dest-tls-verify=false --dest-creds "$DEMO_HANDLE:$DEMO_PASSWORD" \
  "oci:$WORK/img:v1" "docker://$REGISTRY/$DEMO_HANDLE/bench:v1" || die "push failed"
PATH_TAG="/v2/$DEMO_HANDLE/bench/manifests/v1"
ACCEPT="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

answering() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" != 000 ]; }
start_appview() {  # NAME PORT: an instance on the shared database, public at the load balancer
  spawn_daemon "$WORK" "appview-$1" env ATCR_DATABASE_URL="$DB_URL" ATCR_SERVER_PORT="$2" \
    ATCR_SERVER_PUBLIC_URL="http://127.0.0.1:$LB_PORT" ATCR_SERVER_DATA_DIR="$WORK/appview-$1" \
    ATCR_SERVER_DEFAULT_HOLD_DID="$HOLD_DID" ATCR_IDENTITY_PLC_URL="$PLC_URL" \
    ATCR_IDENTITY_HANDLE_RESOLVER="$PDS_URL" ATCR_IDENTITY_DEVELOPMENT=true ATCR_LOG_LEVEL=warn \
    "$BUILD/apps/atcr-appview" serve
  wait_until 30 "appview $1" "$WORK" "appview-$1" answering "http://127.0.0.1:$2/v2/"
}
start_haproxy() {  # PORT...: the backends
  stop_daemon "$WORK" haproxy haproxy
  {
    printf '%s\n' "global" "  maxconn 2048" "defaults" "  mode http" "  timeout connect 2s" "  timeout client 60s" \
      "  timeout server 60s" "frontend registry" "  bind 127.0.0.1:$LB_PORT" "  default_backend appviews" \
      "backend appviews" "  balance roundrobin" "  http-reuse always"
    for p in "$@"; do echo "  server s$p 127.0.0.1:$p maxconn 64"; done
  } >"$WORK/haproxy.cfg"
  spawn_daemon "$WORK" haproxy haproxy -db -f "$WORK/haproxy.cfg"
  wait_until 15 "haproxy" "$WORK" haproxy answering "http://127.0.0.1:$LB_PORT/v2/"
}
# measure NAME HOST:PORT: warm up, then wrk; prints req/s.
measure() {
  local url="http://$2$PATH_TAG"
  curl -sf -o /dev/null -H "$ACCEPT" "$url" || die "$1: GET $url failed"
  wrk -t "$THREADS" -c "$CONNS" -d 2s -H "$ACCEPT" "$url" >/dev/null
  wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" -H "$ACCEPT" "$url" >"$WORK/log/wrk-$1.txt"
  grep -q "Non-2xx" "$WORK/log/wrk-$1.txt" && die "$1: non-2xx answers ($WORK/log/wrk-$1.txt)"
  awk '/^Requests\/sec:/{printf "%.0f", $2}' "$WORK/log/wrk-$1.txt"
}
hwm() { awk '$1=="VmHWM:"{print $2}' "/proc/$(cat "$1")/status" 2>/dev/null || echo 0; }

log "1. one instance, SQLite"
sqlite_rps="$(measure sqlite "$REGISTRY")"
sqlite_rss="$(hwm "$STACK/run/appview.pid")"
log "2. one instance, PostgreSQL, direct, then behind haproxy"
start_appview a "$A_PORT"
pgd_rps="$(measure pg-direct "127.0.0.1:$A_PORT")"
start_haproxy "$A_PORT"
pg1_rps="$(measure pg1 "127.0.0.1:$LB_PORT")"
log "3. two instances, PostgreSQL, behind haproxy"
start_appview b "$B_PORT"
start_haproxy "$A_PORT" "$B_PORT"
pg2_rps="$(measure pg2 "127.0.0.1:$LB_PORT")"
a_rss="$(hwm "$WORK/run/appview-a.pid")"
b_rss="$(hwm "$WORK/run/appview-b.pid")"

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }
{
  echo "manifest GET by tag (anonymous), wrk -t$THREADS -c$CONNS -d${DUR}s, $(nproc) cores"
  printf '%-44s %10s %8s %14s\n' "setup" "req/s" "ratio" "peak RSS (KB)"
  printf '%-44s %10s %8s %14s\n' "1 instance, SQLite (direct)" "$sqlite_rps" "1.00" "$sqlite_rss"
  printf '%-44s %10s %8s %14s\n' "1 instance, PostgreSQL (direct)" "$pgd_rps" "$(ratio "$pgd_rps" "$sqlite_rps")" "-"
  printf '%-44s %10s %8s %14s\n' "1 instance, PostgreSQL, haproxy" "$pg1_rps" "$(ratio "$pg1_rps" "$sqlite_rps")" "$a_rss"
  printf '%-44s %10s %8s %14s\n' "2 instances, PostgreSQL, haproxy" "$pg2_rps" "$(ratio "$pg2_rps" "$sqlite_rps")" \
    "$a_rss + $b_rss"
} | tee "$WORK/scale-out.txt"
