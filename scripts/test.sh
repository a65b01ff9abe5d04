#!/usr/bin/env bash
# test.sh - the single test command (CI runs it through .ci/run):
#   1. scripts/setup-deps.sh and scripts/node-tools.sh (Node 22 + @atproto/* for
#      the interop suite; exports ATCR_NODE and NODE_PATH for it)
#   2. build/      : meson setup + compile (default options: debugoptimized)
#   3. build-asan/ : ASan+UBSan build, `meson test --suite unit`
#   4. build-fuzz/ : clang + libFuzzer, `meson test --suite fuzz` (bounded runs)
#   5. build/      : `meson test` over all suites (unit, interop, ...)
# The full-suite summary comes last, followed by one plain line
# `tests: N passed, M failed[, K skipped]` counted from its test log.
# Exits non-zero if any step or test failed (later steps still run after a
# test failure, so one run shows everything).
# Env knobs: ATCR_TEST_SKIP_ASAN=1 skips step 3, ATCR_TEST_SKIP_FUZZ=1 step 4
# (ATCR_FUZZ_SECONDS sets each fuzz target's time); MESON_TEST_ARGS="..." extra
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

log "build: build/"
meson_setup build
meson compile -C build -j "$JOBS" || die "compile of build/ failed"

if [ "${ATCR_TEST_SKIP_ASAN:-0}" != 1 ]; then
  log "build: build-asan/ (address,undefined sanitizers; unit suite)"
  meson_setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
  if meson compile -C build-asan -j "$JOBS"; then
    meson test -C build-asan --suite unit --print-errorlogs --num-processes "$JOBS" "${extra[@]}" \
      || failed+=("sanitizer unit tests (build-asan/meson-logs/testlog.txt)")
  else
    failed+=("compile of build-asan/")
  fi
else
  log "ATCR_TEST_SKIP_ASAN=1: skipping the sanitizer build"
fi

if [ "${ATCR_TEST_SKIP_FUZZ:-0}" != 1 ]; then
  log "build: build-fuzz/ (clang, libFuzzer + ASan/UBSan; fuzz suite, ${ATCR_FUZZ_SECONDS:-20} s per target)"
  CXX=clang++ meson_setup build-fuzz -Dfuzz=true -Dtests=false -Dbench=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz_seconds="${ATCR_FUZZ_SECONDS:-20}"
  if meson compile -C build-fuzz -j "$JOBS"; then
    meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes "$JOBS" \
      || failed+=("fuzz suite (build-fuzz/meson-logs/testlog.txt)")
  else
    failed+=("compile of build-fuzz/")
  fi
else
  log "ATCR_TEST_SKIP_FUZZ=1: skipping the fuzz build"
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
