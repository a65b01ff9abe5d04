# bench/lib.sh - the start-up the benchmarks share. Source it after
# scripts/lib.sh (it uses meson_setup, die).

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
