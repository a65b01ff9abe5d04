#!/usr/bin/env bash
# stacks_test.sh - two scripts/registry.sh stacks on one machine (one
# shared reference PDS), as bench/registry.sh and a developer's second stack
# start them: each start prints the hold its demo account's pushes actually
# go to, and pushes land there.
#   - stack A (the ATCR_E2E_* ports) and stack B (free ports, its own hold
#     port) each print "hold in use: <their own hold>";
#   - skopeo pushes through each: every layer is in that stack's hold's
#     blob directory and not in the other's;
#   - B started again for A's account (ATCR_DEMO_HANDLE shared): the start
#     warns that the account's profile names A's hold, and a push through
#     B's registry indeed lands in A's hold.
#
# Env: ATCR_BUILD (set by meson), the ATCR_E2E_* ports and dir.
set -uo pipefail
LOG_TAG=stacks
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-stacks-a"
A_DIR="$ATCR_REGISTRY_DIR" A_APPVIEW="$ATCR_APPVIEW_PORT" A_HOLD="$ATCR_HOLD_PORT"
B_DIR="${ATCR_E2E_DIR:-/tmp/atcr-e2e-$(id -u)}-stacks-b" B_APPVIEW="$(free_port)" B_HOLD="$(free_port)"
A_HANDLE="$(fresh_handle sa)" B_HANDLE="$(fresh_handle sb)"
W="$(mktemp -d /tmp/atcr-stacks-work.XXXXXX)"
LOGF="$W/stacks.log"
# stack A|B ARGS...: scripts/registry.sh ARGS for that stack (its dir, ports; handle from $HANDLE).
stack() {
  local s="$1"
  shift
  local dir="${s}_DIR" appview="${s}_APPVIEW" hold="${s}_HOLD"
  ATCR_REGISTRY_DIR="${!dir}" ATCR_APPVIEW_PORT="${!appview}" ATCR_HOLD_PORT="${!hold}" \
    ATCR_DEMO_HANDLE="${HANDLE:-}" bash "$REPO_ROOT/scripts/registry.sh" "$@"
}
cleanup() {
  stack A stop >/dev/null 2>&1 || true
  stack B stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
for tool in skopeo python3 curl; do command -v "$tool" >/dev/null || die "$tool is missing"; done
cleanup
# B's hold port is new each run, and a hold's state belongs to its DID.
rm -rf "$A_DIR" "$B_DIR"
mkdir -p "$W"

HANDLE="$A_HANDLE" stack A start >"$W/a.env" 2>"$W/a.err" || { cat "$W/a.err"; die "stack A did not start"; }
HANDLE="$B_HANDLE" stack B start >"$W/b.env" 2>"$W/b.err" || { cat "$W/b.err"; die "stack B did not start"; }
envof() { sed -n "s/^$2=//p" "$W/$1.env"; }

pass=0
fail=0
# says FILE TEXT: FILE has the line TEXT (fixed string).
says() { cat "$2" && grep -qF -- "$1" "$2"; }
# push STACK-ENV HANDLE PASSWORD NAME: a fresh 2-layer image, pushed with skopeo; its layers in $W/NAME.layers.
push() {
  python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/$4" --tag v1 --layers 64K,32K >/dev/null || return 1
  python3 - "$W/$4" >"$W/$4.layers" <<'PY' || return 1
import json, sys
d = sys.argv[1]
top = json.load(open(d + "/index.json"))["manifests"][0]["digest"].split(":")[1]
for layer in json.load(open(f"{d}/blobs/sha256/{top}"))["layers"]:
    print(layer["digest"].split(":")[1])
PY
  skopeo copy -q --dest-tls-verify=false --dest-creds "$2:$3" "oci:$W/$4:v1" "docker://$(envof "$1" REGISTRY)/$2/$4:v1"
}
# in_hold DIR NAME: every layer of image NAME is a blob of the hold whose registry dir is DIR.
in_hold() {
  local hex
  while read -r hex; do
    [ -f "$1/hold/blobs/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data" ] || { echo "$hex not in $1"; return 1; }
  done <"$W/$2.layers"
}
not_in_hold() { ! in_hold "$@" >/dev/null; }

check "A prints its own hold" says "hold in use: did:web:localhost%3A$A_HOLD (http://localhost:$A_HOLD)" "$W/a.err"
check "B prints its own hold" says "hold in use: did:web:localhost%3A$B_HOLD (http://localhost:$B_HOLD)" "$W/b.err"
check "B's env names its hold" test "$(envof b HOLD_DID)" = "did:web:localhost%3A$B_HOLD"

check "push through A" push a "$A_HANDLE" "$(envof a DEMO_PASSWORD)" via-a
check "A's push is in A's hold" in_hold "$A_DIR" via-a
check "A's push is not in B's hold" not_in_hold "$B_DIR" via-a
check "push through B" push b "$B_HANDLE" "$(envof b DEMO_PASSWORD)" via-b
check "B's push is in B's hold" in_hold "$B_DIR" via-b
check "B's push is not in A's hold" not_in_hold "$A_DIR" via-b

# B for A's account: its profile (written at A's first login) names A's hold.
HANDLE="$A_HANDLE" stack B start >"$W/b2.env" 2>"$W/b2.err" || { cat "$W/b2.err"; die "stack B (A's account) did not start"; }
check "B warns the account's pushes go to A's hold" \
  says "WARNING: $A_HANDLE's io.atcr.sailor.profile names hold did:web:localhost%3A$A_HOLD, not this stack's did:web:localhost%3A$B_HOLD:" "$W/b2.err"
check "the warning says where pushes go" says "its pushes go to did:web:localhost%3A$A_HOLD" "$W/b2.err"
check "push through B as A's account" push b2 "$A_HANDLE" "$(envof b2 DEMO_PASSWORD)" shared
check "it lands in A's hold, as printed" in_hold "$A_DIR" shared
check "not in B's hold" not_in_hold "$B_DIR" shared

echo "stacks: $pass passed, $fail failed (log: $LOGF)"
[ "$fail" = 0 ] || { cat "$LOGF"; exit 1; }
