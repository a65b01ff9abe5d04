#!/usr/bin/env bash
# bench/run.sh - atcr vs the reference implementations, one command:
#   bash bench/run.sh [--quick] [benchmark-name...]
# Three tables: the repo/MST core against @atproto/repo (below), the hold's
# blob path against dd (bench/hold.sh), and the registry against CNCF
# Distribution (bench/registry.sh).
# Builds build-bench/ (meson, buildtype=release), runs
# build-bench/bench/atcr_bench and bench/ref-bench.mjs (@atproto/repo under
# Node 22) with the same arguments, and prints a table: ops/s of each, the
# ratio atcr / reference (> 1: atcr is faster), and each process's peak RSS.
# --quick divides every workload by 10. Raw JSON lines are kept in
# build-bench/bench-results/{atcr,ref}.jsonl.
#
# Both programs print one JSON line per benchmark
#   {"name": ..., "ops": N, "seconds": S, "ops_per_sec": X, ...}
# and finally {"name": "peak_rss_kb", "value": KB}. They run with the repo root
# as working directory and ATCR_BENCH_RECORD=<abs path of bench/record-1k.json>.
set -euo pipefail
LOG_TAG=bench
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

BUILD=build-bench
ATCR_BENCH="$BUILD/bench/atcr_bench"
OUT="$BUILD/bench-results"

bash scripts/setup-deps.sh
eval "$(bash scripts/node-tools.sh)"

meson_setup "$BUILD" --buildtype=release -Dbench=true -Dtests=false
meson compile -C "$BUILD" -j "${JOBS:-2}" || die "compile of $BUILD failed"
mkdir -p "$OUT"
export ATCR_BENCH_RECORD="$REPO_ROOT/bench/record-1k.json"

status=0
if [ -x "$ATCR_BENCH" ]; then
  log "running $ATCR_BENCH${*:+ $*}"
  "$ATCR_BENCH" "$@" >"$OUT/atcr.jsonl" || { log "atcr_bench failed (exit $?)"; status=1; }
else
  log "$ATCR_BENCH was not built (bench/meson.build must define it); reference only"
  : >"$OUT/atcr.jsonl"
  status=1
fi
log "running bench/ref-bench.mjs${*:+ $*} under node $("$ATCR_NODE" -v)"
"$ATCR_NODE" bench/ref-bench.mjs "$@" >"$OUT/ref.jsonl" || { log "ref-bench.mjs failed (exit $?)"; status=1; }

python3 - "$OUT/atcr.jsonl" "$OUT/ref.jsonl" <<'PY'
import json, sys

def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            try:
                r = json.loads(line)
                rows[r["name"]] = r
            except (ValueError, KeyError):
                print(f"[bench] ignoring bad line in {path}: {line[:120]}", file=sys.stderr)
    return rows

atcr, ref = load(sys.argv[1]), load(sys.argv[2])
names = [n for n in ref if n != "peak_rss_kb"] + [n for n in atcr if n not in ref and n != "peak_rss_kb"]

def fmt(x, unit=""):
    return "-" if x is None else f"{x:,.0f}{unit}" if x >= 100 else f"{x:,.2f}{unit}"

rows = [("benchmark", "atcr ops/s", "reference ops/s", "ratio", "notes")]
for n in names:
    a, r = atcr.get(n, {}), ref.get(n, {})
    ao, ro = a.get("ops_per_sec"), r.get("ops_per_sec")
    ratio = f"{ao / ro:.2f}x" if ao and ro else "-"
    notes = []
    if "bytes_per_sec" in a or "bytes_per_sec" in r:
        mb = lambda d: fmt(d["bytes_per_sec"] / 1e6) if "bytes_per_sec" in d else "-"
        notes.append(f"MB/s {mb(a)} vs {mb(r)}")
    for key in ("root", "data", "cid"):
        if key in a and key in r:
            notes.append(f"{key} {'matches' if a[key] == r[key] else 'DIFFERS'}")
    if a.get("ops") and r.get("ops") and a["ops"] != r["ops"]:
        notes.append(f"ops differ: {a['ops']} vs {r['ops']}")
    rows.append((n, fmt(ao), fmt(ro), ratio, "; ".join(notes)))
ar, rr = atcr.get("peak_rss_kb", {}).get("value"), ref.get("peak_rss_kb", {}).get("value")
rows.append(("peak RSS (KB)", fmt(ar), fmt(rr), f"{ar / rr:.2f}x" if ar and rr else "-", "whole process"))

widths = [max(len(r[i]) for r in rows) for i in range(5)]
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w) if j in (0, 4) else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
PY

# The hold's blob path against dd on the same disk (its own table).
log "running bench/hold.sh${*:+ $*}"
BUILD="$BUILD" bash bench/hold.sh "$@" || { log "bench/hold.sh failed"; status=1; }

# The whole registry (appview + hold + reference PDS) against CNCF
# Distribution with skopeo, wrk and ab (its own table).
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
log "running bench/registry.sh${quick/#1/ (QUICK=1)}"
QUICK="$quick" ATCR_BUILD="$BUILD" bash bench/registry.sh || { log "bench/registry.sh failed"; status=1; }
exit "$status"
