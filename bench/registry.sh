#!/usr/bin/env bash
# bench/registry.sh - atcr vs CNCF Distribution (Debian's docker-registry),
# side by side in one run on this machine:
#   push/pull with skopeo of 3x1 MiB, 5x20 MiB and 1x512 MiB images, and
#   manifest GET/HEAD by tag and digest, blob HEAD/GET, tags/list under wrk/ab
# (bench/registry-load.sh does the measuring). Distribution runs with
# filesystem storage and no auth; atcr is the whole stack from
# scripts/registry.sh (reference PDS, hold on the filesystem, appview), with
# its token auth. Prints each side's numbers, the ratio atcr / Distribution
# and the peak RSS of each server.
#
# GET blob is measured as a client sees it: following redirects (atcr sends
# the client to its hold, or to a presigned S3 URL; Distribution on S3 to a
# presigned URL) and counting the MB/s of whole blobs delivered. It runs on
# both storage drivers: the filesystem stacks above, and (DRIVERS="filesystem
# s3", the default) a second pair on radosgw (scripts/s3.sh): Distribution
# with its s3 driver, atcr with an S3 hold.
#
# The small push is measured a second time with the registries taking turns
# (bench/push-interleaved.sh; the row "push_MBs.small (turns)"): the blocks
# of bench/registry-load.sh run half a minute apart, and this machine's
# speed drifts by as much as the difference between them.
#
# skopeo shares the 2 cores with the servers and does much of the work
# itself, so the push and pull rows also show the client's floor: skopeo
# against bench/floor-registry.py, which keeps blobs in memory and checks
# nothing. "best" = floor / Distribution is the highest ratio any registry
# could reach in that run. Every side gets one untimed push and pull first.
#
#   bash bench/registry.sh            (RUNS=3 DUR=10 by default; see registry-load.sh knobs)
#   QUICK=1 bash bench/registry.sh    one run, 5 s loads, no 512 MiB image
#   DRIVERS=filesystem                 skip the S3 pass
# Ports (127.0.0.1), each overridable: ATCR_BENCH_DIST_PORT (5010),
# ATCR_APPVIEW_PORT (5011) and ATCR_HOLD_PORT (8091) for the filesystem atcr,
# ATCR_BENCH_FLOOR_PORT (5012), ATCR_BENCH_DIST_S3_PORT (5013),
# ATCR_BENCH_S3_APPVIEW_PORT (5014), ATCR_BENCH_S3_HOLD_PORT (8092); radosgw
# takes ATCR_S3_PORT/ATCR_S3_DIR (scripts/s3.sh), the PDS scripts/pds.sh's.
set -euo pipefail
LOG_TAG=bench-registry
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
. "$REPO_ROOT/bench/lib.sh"
cd "$REPO_ROOT"

DIST_PORT="${ATCR_BENCH_DIST_PORT:-5010}"
ATCR_PORT="${ATCR_APPVIEW_PORT:-5011}"
HOLD_PORT="${ATCR_HOLD_PORT:-8091}"
FLOOR_PORT="${ATCR_BENCH_FLOOR_PORT:-5012}"
DIST_S3_PORT="${ATCR_BENCH_DIST_S3_PORT:-5013}"
S3_APPVIEW_PORT="${ATCR_BENCH_S3_APPVIEW_PORT:-5014}"
S3_HOLD_PORT="${ATCR_BENCH_S3_HOLD_PORT:-8092}"
DRIVERS="${DRIVERS:-filesystem s3}"
if [ "${QUICK:-0}" = 1 ]; then
  export RUNS=1 DUR=5 IMAGES="small medium"
fi

for p in docker-registry skopeo wrk ab; do
  command -v "$p" >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry skopeo wrk apache2-utils >&2
    break
  }
done
bench_stack_setup registry docker-registry skopeo wrk ab
mkdir -p "$WORK"/{distribution,distribution-s3}
cleanup() {
  stop_daemon "$WORK" floor floor-registry.py
  stop_daemon "$WORK" distribution docker-registry
  stop_daemon "$WORK" distribution-s3 docker-registry
  bench_stack_stop atcr atcr-s3
}
trap cleanup EXIT

# --- Distribution 2.8 --------------------------------------------------------
# start_distribution NAME PORT STORAGE-YAML (the lines under "storage:")
start_distribution() {
  printf '%s\n' "version: 0.1" "log: {level: error}" "storage:" "$3" "  delete: {enabled: true}" \
    "http: {addr: 127.0.0.1:$2}" >"$WORK/$1/config.yml"
  port_taken "$2" && die "port $2 is taken"
  # (AWS_CA_BUNDLE, which some environments set, makes its S3 driver panic
  # with Distribution's own HTTP transport.)
  spawn_daemon "$WORK" "$1" env -u AWS_CA_BUNDLE docker-registry serve "$WORK/$1/config.yml"
  wait_until 20 "Distribution ($1) on :$2" "$WORK" "$1" curl -sf -o /dev/null "http://127.0.0.1:$2/v2/"
}
start_distribution distribution "$DIST_PORT" "  filesystem: {rootdirectory: $WORK/distribution/data}"

# --- atcr ---------------------------------------------------------------------
env_lines="$(bench_stack atcr "$ATCR_PORT" "$HOLD_PORT" filesystem)"
eval "$env_lines"

# --- the client's floor -------------------------------------------------------
port_taken "$FLOOR_PORT" && die "port $FLOOR_PORT is taken"
spawn_daemon "$WORK" floor python3 bench/floor-registry.py "$FLOOR_PORT"
wait_until 20 "floor registry on :$FLOOR_PORT" "$WORK" floor \
  curl -sf -o /dev/null "http://127.0.0.1:$FLOOR_PORT/v2/"

export WARMUP=1
log "measuring the client's floor on 127.0.0.1:$FLOOR_PORT"
LAB="$WORK/lab-floor" KV="$WORK/floor.kv" PREFIX=bench SKIP_LOAD=1 CLEANUP=0 \
  REG_PID="$(cat "$WORK/run/floor.pid")" bash bench/registry-load.sh "127.0.0.1:$FLOOR_PORT" >&2
log "measuring Distribution on 127.0.0.1:$DIST_PORT"
LAB="$WORK/lab-dist" KV="$WORK/dist.kv" PREFIX=bench \
  REG_PID="$(cat "$WORK/run/distribution.pid")" bash bench/registry-load.sh "127.0.0.1:$DIST_PORT" >&2
log "measuring atcr on $REGISTRY"
LAB="$WORK/lab-atcr" KV="$WORK/atcr.kv" PREFIX="$DEMO_HANDLE/bench" CREDS="$DEMO_HANDLE:$DEMO_PASSWORD" \
  TOKEN_URL="http://$REGISTRY/auth/token?service=$REGISTRY" \
  REG_PID="$(cat "$WORK/atcr/run/appview.pid")" bash bench/registry-load.sh "$REGISTRY" >&2
hold_hwm="$(awk '$1=="VmHWM:"{print $2}' "/proc/$(cat "$WORK/atcr/run/hold.pid")/status" 2>/dev/null || echo 0)"

# --- the small push once more, the registries taking turns ----------------------
# (bench/push-interleaved.sh: the blocks above are measured half a minute
# apart, and this machine's speed drifts by as much as the difference.)
if [[ " ${IMAGES:-small} " == *" small "* ]]; then
  log "small pushes taking turns: atcr, Distribution, the floor"
  WORK="$WORK/turns" bash bench/push-interleaved.sh "atcr=$REGISTRY/$DEMO_HANDLE/bench=$DEMO_HANDLE:$DEMO_PASSWORD" \
    "dist=127.0.0.1:$DIST_PORT/bench" "floor=127.0.0.1:$FLOOR_PORT/bench" >"$WORK/turns.txt" ||
    die "bench/push-interleaved.sh failed"
  while read -r side _ mbs; do
    echo "push_MBs.small (turns)=$mbs" >>"$WORK/$side.kv"
  done <"$WORK/turns.txt"
fi

# --- the S3 driver: GET blob only -----------------------------------------------
: >"$WORK/atcr-s3.kv"
: >"$WORK/dist-s3.kv"
if [[ " $DRIVERS " == *" s3 "* ]]; then
  s3env="$(bash scripts/s3.sh start)" || die "scripts/s3.sh start failed"
  s3() { sed -n "s/^$1=//p" <<<"$s3env"; }
  # Distribution's S3 driver answers GET blob with a 307 to a presigned URL
  # (storage.redirect), as atcr's S3 hold does.
  start_distribution distribution-s3 "$DIST_S3_PORT" "  s3:
    accesskey: $(s3 S3_ACCESS_KEY)
    secretkey: $(s3 S3_SECRET_KEY)
    region: $(s3 S3_REGION)
    regionendpoint: $(s3 S3_ENDPOINT)
    bucket: $(s3 S3_BUCKET)
    rootdirectory: /bench-distribution-$$
    secure: false
    v4auth: true
  redirect: {disable: false}"
  s3_lines="$(bench_stack atcr-s3 "$S3_APPVIEW_PORT" "$S3_HOLD_PORT" s3)"
  s3_registry="$(sed -n 's/^REGISTRY=//p' <<<"$s3_lines")"
  s3_handle="$(sed -n 's/^DEMO_HANDLE=//p' <<<"$s3_lines")"
  s3_password="$(sed -n 's/^DEMO_PASSWORD=//p' <<<"$s3_lines")"
  log "measuring Distribution (s3) on 127.0.0.1:$DIST_S3_PORT"
  SKIP_COPY=1 LOADS=blob BLOB_LABEL=" (s3)" WARMUP=0 LAB="$WORK/lab-dist-s3" KV="$WORK/dist-s3.kv" PREFIX=bench \
    REG_PID="$(cat "$WORK/run/distribution-s3.pid")" bash bench/registry-load.sh "127.0.0.1:$DIST_S3_PORT" >&2
  log "measuring atcr (s3) on $s3_registry"
  SKIP_COPY=1 LOADS=blob BLOB_LABEL=" (s3)" WARMUP=0 LAB="$WORK/lab-atcr-s3" KV="$WORK/atcr-s3.kv" \
    PREFIX="$s3_handle/bench" CREDS="$s3_handle:$s3_password" TOKEN_URL="http://$s3_registry/auth/token?service=$s3_registry" \
    REG_PID="$(cat "$WORK/atcr-s3/run/appview.pid")" bash bench/registry-load.sh "$s3_registry" >&2
fi

python3 - "$WORK/atcr.kv" "$WORK/dist.kv" "$WORK/floor.kv" "$hold_hwm" "$WORK/atcr-s3.kv" "$WORK/dist-s3.kv" <<'PY'
import sys

def load(path):
    out = {}
    for line in open(path):
        key, _, value = line.rstrip("\n").partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out

atcr, dist, floor = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
hold_hwm = float(sys.argv[4] or 0)
# The S3 pass's rows (GET blob on both S3 stacks) join the table.
for main, extra in ((atcr, load(sys.argv[5])), (dist, load(sys.argv[6]))):
    main.update({k: v for k, v in extra.items() if k != "peak_rss_kb"})
targets = {"push_MBs": 1.5, "pull_MBs": 1.2, "rps.GET manifest (tag)": 3.0, "rps.GET manifest (digest)": 3.0}
print(f"{'benchmark':<34} {'atcr':>10} {'Distribution':>13} {'ratio':>7}  {'floor':>8} {'best':>6}  target")
for key in dist:
    if key.startswith(("bad.", "repush_s.", "peak_rss_kb")):
        continue
    a, d, f = atcr.get(key), dist[key], floor.get(key)
    ratio = f"{a / d:.2f}x" if a and d else "-"
    best = f"{f / d:.2f}x" if f and d else ""
    target = next((f">= {t}x" for prefix, t in targets.items() if key.startswith(prefix)), "")
    unit = " MB/s" if "MBs" in key else " req/s"
    print(f"{key + unit:<34} {a if a is not None else float('nan'):>10.1f} {d:>13.1f} {ratio:>7}  "
          f"{f'{f:.1f}' if f else '':>8} {best:>6}  {target}")
bad = {k: v for k, v in atcr.items() if k.startswith("bad.") and v}
if bad:
    print("atcr errors under load:", bad)
print(f"peak RSS: atcr appview {atcr.get('peak_rss_kb', 0) / 1024:.0f} MB + hold {hold_hwm / 1024:.0f} MB;"
      f" Distribution {dist.get('peak_rss_kb', 0) / 1024:.0f} MB")
print("floor: skopeo against bench/floor-registry.py (memory, no checks); best = floor / Distribution")
print("GET blob: curl -L (redirects followed), MB/s of whole blobs delivered; (s3): both registries on radosgw")
PY
