#!/usr/bin/env bash
# bench/push-interleaved.sh - the small push with the registries taking
# turns: each round pushes a fresh image to every registry, one after the
# other (the order rotating from round to round), so a machine that gets
# slower or faster during the run (other tenants of the host, CPU
# frequency, the page cache) moves every side alike. registry-load.sh
# measures each registry in a block of its own, half a minute apart; on a
# shared 2-core machine the medians of such blocks drifted by as much as the
# difference being measured (the same build gave 0.90x and 1.38x against
# Distribution on 2026-12-03), while rounds taken in turns agree.
#
#   bash bench/push-interleaved.sh NAME=HOST/PREFIX[=USER:PASSWORD] ...
# prints one line per registry: NAME MEDIAN_SECONDS MB/s (10^6 B/s of blob
# bytes), and checks each pushed manifest reads back with its digest.
# Env: AB_RUNS rounds (default 9), SPEC mkimage arguments (default 3x1 MiB,
# bench/registry-load.sh's "small"), WORK scratch dir (default a temp dir).
# Pushed tags are deleted at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"  # SPEC_small, BIC, sub, median, mbps, blob_bytes, top_digest
RUNS="${AB_RUNS:-9}"
SPEC="${SPEC:-$SPEC_small}"
WORK="${WORK:-$(mktemp -d /tmp/atcr-push-interleaved.XXXXXX)}"
mkdir -p "$WORK"

die() { echo "push-interleaved: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: push-interleaved.sh NAME=HOST/PREFIX[=CREDS] NAME=... (two or more)"
names=() targets=() creds=()
for arg in "$@"; do
  IFS='=' read -r name target cred <<<"$arg"
  [ -n "$name" ] && [ -n "$target" ] || die "bad registry argument '$arg'"
  names+=("$name") targets+=("$target") creds+=("${cred:-}")
done
dest_flags() { local f=(--dest-tls-verify=false); [ -n "${creds[$1]}" ] && f+=(--dest-creds "${creds[$1]}"); echo "${f[@]}"; }
one_flags() { local f=(--tls-verify=false); [ -n "${creds[$1]}" ] && f+=(--creds "${creds[$1]}"); echo "${f[@]}"; }

declare -A times
pushed=()
stamp="$(date +%H%M%S)-$$"
for round in $(seq "$RUNS"); do
  n=${#names[@]}
  for k in $(seq 0 $((n - 1))); do
    s=$(((k + round) % n))
    dir="$WORK/img-$round-$s"
    rm -rf "$dir"
    # shellcheck disable=SC2086
    python3 "$ROOT/tests/e2e/mkimage.py" "$dir" --tag v1 $SPEC >/dev/null || die "mkimage failed"
    ref="docker://${targets[$s]}/ab-$stamp-$round:v1"
    digest=$(top_digest "$dir")
    rm -f "$BIC"
    sync
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2046
    skopeo copy -q --preserve-digests $(dest_flags "$s") "oci:$dir:v1" "$ref" >/dev/null || die "push to ${names[$s]} failed"
    t1=$EPOCHREALTIME
    times[$s]+=" $(sub "$t0" "$t1")"
    pushed+=("$s $ref")
    # shellcheck disable=SC2046
    got=$(skopeo inspect --raw $(one_flags "$s") "$ref" | sha256sum | cut -d' ' -f1)
    [ "sha256:$got" = "$digest" ] || die "${names[$s]}: $ref reads back as sha256:$got, not $digest"
    blob_bytes "$dir" >"$WORK/bytes"
    rm -rf "$dir"
  done
done
for entry in "${pushed[@]}"; do
  # shellcheck disable=SC2046
  skopeo delete $(one_flags "${entry%% *}") "${entry#* }" >/dev/null 2>&1 || true
done
# Every round's image has the same size: the spec fixes the layer sizes.
bytes="$(cat "$WORK/bytes")"
for s in "${!names[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${times[$s]})
  echo "${names[$s]} $m $(mbps "$bytes" "$m")"
done
