# bench/lib.sh - what the benchmarks share: start-up (source it after
# scripts/lib.sh: bench_compile uses meson_setup and die) and the images
# and arithmetic of the skopeo push/pull measurements.

# bench_compile BUILD TARGET...: the TARGETs compiled in BUILD, which is set
# up first (release, -Dbench=true) when it is not a build dir yet. A no-op
# when they are up to date.
bench_compile() {
  local build="$1"
  shift
  [ -f "$build/meson-private/coredata.dat" ] || meson_setup "$build" --buildtype=release -Dbench=true -Dtests=false
  meson compile -C "$build" -j "${JOBS:-2}" "$@" >&2 || die "compile of $* in $build failed"
}

# bench_stack_setup NAME TOOL...: for the benchmarks of whole stacks. Dies
# naming a missing TOOL; sets BUILD (ATCR_BUILD, default build-bench, made
# absolute) with the two servers always compiled (a stale binary would
# measure old code), and WORK (ATCR_BENCH_DIR, default
# /tmp/atcr-bench-NAME-<uid>), emptied, with its log/ and run/.
bench_stack_setup() {
  local name="$1" tool
  shift
  for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install it)"; done
  BUILD="${ATCR_BUILD:-build-bench}"
  bench_compile "$BUILD" apps/atcr-appview apps/atcr-hold
  case "$BUILD" in /*) ;; *) BUILD="$REPO_ROOT/$BUILD" ;; esac
  WORK="${ATCR_BENCH_DIR:-/tmp/atcr-bench-$name-$(id -u)}"
  rm -rf "$WORK"
  mkdir -p "$WORK"/{log,run}
}

# bench_stack DIR APPVIEW-PORT HOLD-PORT [STORAGE]: a whole stack
# (scripts/registry.sh: the reference PDS, a public hold on STORAGE,
# default filesystem, the appview) in $WORK/DIR; prints its env (REGISTRY,
# DEMO_*, HOLD_DID, PDS_URL, PLC_URL) for eval.
bench_stack() {
  ATCR_REGISTRY_DIR="$WORK/$1" ATCR_BUILD="$BUILD" ATCR_APPVIEW_PORT="$2" ATCR_HOLD_PORT="$3" \
    ATCR_HOLD_STORAGE="${4:-filesystem}" ATCR_HOLD_PUBLIC=true bash "$REPO_ROOT/scripts/registry.sh" start ||
    die "scripts/registry.sh start ($1) failed"
}

# bench_stack_stop DIR...: stops the stacks bench_stack started.
bench_stack_stop() {
  local dir
  for dir in "$@"; do
    ATCR_REGISTRY_DIR="$WORK/$dir" ATCR_BUILD="$BUILD" bash "$REPO_ROOT/scripts/registry.sh" stop >/dev/null 2>&1 || true
  done
}

# --- skopeo push/pull measurements (registry-load.sh, push-interleaved.sh) ---
# The images, tests/e2e/mkimage.py arguments. gzip level 0 = valid gzip of
# stored blocks: fast to generate, and skopeo pushes it as-is (an
# uncompressed "...layer.v1.tar" layer would be gzip'd by skopeo on push,
# changing the manifest's digest).
SPEC_small=${SPEC_small:-"--layers 1M,1M,1M --gzip-level 0"}
SPEC_medium=${SPEC_medium:-"--layers 20M,20M,20M,20M,20M --gzip-level 0"}
SPEC_large=${SPEC_large:-"--layers 512M --gzip-level 0"}
# containers/image remembers where blobs went and would cross-repo-mount
# them instead of uploading: removed before each timed push.
BIC=/var/lib/containers/cache/blob-info-cache-v1.boltdb
[ "$(id -u)" = 0 ] || BIC=${XDG_DATA_HOME:-$HOME/.local/share}/containers/cache/blob-info-cache-v1.boltdb

sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }  # sub T0 T1: seconds between
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if(NR%2) print a[(NR+1)/2]; else printf "%.3f\n",(a[NR/2]+a[NR/2+1])/2}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s>0) printf "%.1f", b/1e6/s; else print "-"}'; }  # mbps BYTES SECONDS
blob_bytes() { find "$1/blobs/sha256" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}'; }  # of an OCI layout
top_digest() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"])' "$1"; }
