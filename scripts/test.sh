#!/usr/bin/env bash
# test.sh - the single test command (CI runs it through .ci/run):
#   1. scripts/setup-deps.sh and scripts/node-tools.sh (Node 22 + @atproto/* for
#      the interop suite; exports ATCR_NODE and NODE_PATH for it)
#   2. build/      : meson setup + compile, -O1 without debug info (half
#                    the compile time of debugoptimized; the tests do not
#                    need either), no bench programs
#   3. build-san/  : clang with ASan+UBSan and libFuzzer instrumentation:
#                    `meson test --suite unit` then `--suite fuzz` (bounded
#                    runs). One sanitizer build serves both, and only what
#                    those suites run is compiled, at -O0 with line tables
#                    only (enough for the sanitizers' stack traces): with
#                    ASan+UBSan, -O1 took twice as long to compile as the
#                    slower tests and fewer fuzz runs cost.
#   4. build/      : `meson test` over all suites (unit, integration,
#                    interop, e2e)
# The full-suite summary comes last, followed by one plain line
# `tests: N passed, M failed[, K skipped]` counted from its test log.
# Exits non-zero if any step or test failed (later steps still run after a
# test failure, so one run shows everything).
# Env knobs: ATCR_TEST_SKIP_SAN=1 skips step 3, ATCR_TEST_SKIP_FUZZ=1 only
# its fuzz runs (ATCR_FUZZ_SECONDS sets each fuzz target's time); MESON_TEST_ARGS="..." extra
# arguments for both `meson test` runs (e.g. "--repeat 3").
set -euo pipefail
LOG_TAG=test
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

JOBS="${JOBS:-2}"
read -r -a extra <<<"${MESON_TEST_ARGS:-}"
failed=()

log "setup: system packages"
bash scripts/setup-deps.sh
log "setup: node tools"
node_env="$(bash scripts/node-tools.sh)" || die "scripts/node-tools.sh failed"
eval "$node_env"
export ATCR_NODE NODE_PATH

# The build-dir-relative paths of what the tests of SUITES (e.g. "unit fuzz")
# in build dir DIR need, for ninja.
test_targets() {
  meson introspect "$1" --tests --targets | python3 -c '
import json, os, sys
build, suites = sys.argv[1], {":" + s for s in sys.argv[2].split()}
info = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in info["targets"]}
out = set()
for test in info["tests"]:
    if any(s.endswith(tuple(suites)) for s in test["suite"]):
        for dep in test["depends"]:
            out.update(os.path.relpath(f, build) for f in files.get(dep, []))
print(" ".join(sorted(out)))' "$(cd "$1" && pwd)" "$2"
}

log "build: build/"
# -Dwerror=true: the project builds warning-free (-Wall -Wextra), so a new
# warning fails CI. (System headers stay out of it: gcc and clang do not
# warn inside them.)
meson_setup build -Doptimization=1 -Ddebug=false -Dbench=false -Dwerror=true
meson compile -C build -j "$JOBS" || die "compile of build/ failed"

if [ "${ATCR_TEST_SKIP_SAN:-0}" != 1 ]; then
  log "build: build-san/ (clang, ASan+UBSan, libFuzzer instrumentation; unit and fuzz suites)"
  CXX=clang++ meson_setup build-san -Dfuzz=true -Dbench=false -Doptimization=0 -Ddebug=false \
    -Dcpp_args=-gline-tables-only -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzz_seconds="${ATCR_FUZZ_SECONDS:-20}" -Dwerror=true
  read -r -a san_targets <<<"$(test_targets build-san "unit fuzz")"
  if ((${#san_targets[@]} > 0)) && ninja -C build-san -j "$JOBS" "${san_targets[@]}"; then
    meson test -C build-san --no-rebuild --suite unit --print-errorlogs --num-processes "$JOBS" "${extra[@]}" \
      || failed+=("sanitizer unit tests (build-san/meson-logs/testlog.txt)")
    if [ "${ATCR_TEST_SKIP_FUZZ:-0}" != 1 ]; then
      meson test -C build-san --no-rebuild --suite fuzz --print-errorlogs --num-processes "$JOBS" \
        || failed+=("fuzz suite (build-san/meson-logs/testlog.txt)")
    fi
  else
    failed+=("compile of build-san/")
  fi
else
  log "ATCR_TEST_SKIP_SAN=1: skipping the sanitizer build"
fi

log "test: all suites in build/"
rm -f build/meson-logs/testlog.json
rc=0
meson test -C build --print-errorlogs --num-processes "$JOBS" "${extra[@]}" || rc=$?
((rc == 0)) || failed+=("full test suite (build/meson-logs/testlog.txt)")

for f in "${failed[@]}"; do log "FAILED: $f"; done
# meson's own summary is not a format CI recognises; add the plain count line.
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        counts["passed"] += 1
    elif r == "SKIP":
        counts["skipped"] += 1
    else:
        counts["failed"] += 1
tail = f", {counts['skipped']} skipped" if counts["skipped"] else ""
print(f"tests: {counts['passed']} passed, {counts['failed']} failed{tail}")
PY
((${#failed[@]} == 0))
