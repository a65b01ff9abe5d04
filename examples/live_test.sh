#!/usr/bin/env bash
# live_test.sh - the examples that need live services, against one stack
# (scripts/registry.sh: the reference PDS + PLC, a hold, the appview) with
# two images pushed by skopeo; each example's output is checked against
# what the services and skopeo say.
#
# Env: ATCR_BUILD (set by meson), the ATCR_E2E_* ports and dir.
set -uo pipefail
LOG_TAG=examples
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

e2e_stack "-examples"
export ATCR_DEMO_HANDLE="$(fresh_handle ex)"
e2e_workdir examples skopeo python3
e2e_start_stack
export ATCR_IDENTITY_PLC_URL="$PLC_URL" ATCR_IDENTITY_HANDLE_RESOLVER="$PDS_URL" ATCR_IDENTITY_DEVELOPMENT=true
R="$REGISTRY/$DEMO_HANDLE"
SKD=(--dest-tls-verify=false --dest-creds "$DEMO_HANDLE:$DEMO_PASSWORD")
X="$ATCR_BUILD/examples"

# has FILE TEXT...: FILE contains every TEXT (fixed strings).
has() {
  local file="$1" text
  shift
  cat "$file"
  for text in "$@"; do grep -qF -- "$text" "$file" || { echo "missing: $text"; return 1; }; done
}
export -f has
run() { local out="$1"; shift; "$@" >"$W/$out" 2>&1 || { cat "$W/$out"; return 1; }; }
served() { echo "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$1" | sha256sum | cut -d' ' -f1)"; }
mk() { python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/$1" --tag v1 "${@:2}" >/dev/null; }

mk app --layers 32K,16K
mk multi --layers 16K --platforms linux/amd64,linux/arm64/v8
t "push app:v1 and multi:v1 (skopeo)" bash -c "skopeo copy -q ${SKD[*]} oci:$W/app:v1 docker://$R/app:v1 &&
                                          skopeo copy -q --all ${SKD[*]} oci:$W/multi:v1 docker://$R/multi:v1"
APP="$(served "$R/app:v1")"
MULTI="$(served "$R/multi:v1")"

t "resolve_identity"        run resolve "$X/resolve_identity" "$DEMO_HANDLE"
t "  DID, handle, PDS, key" has "$W/resolve" "did:     $DEMO_DID" "handle:  $DEMO_HANDLE" "pds:     $PDS_URL" "key:     did:key:z"
t "inspect_image"           run inspect "$X/inspect_image" "$R/app:v1"
t "  manifest, config, layers" has "$W/inspect" "digest:   $APP" "platform: linux/amd64" "layers:   2 ("
t "inspect_image (an index)" run inspect-multi "$X/inspect_image" "$R/multi:v1"
t "  platforms, then the first" has "$W/inspect-multi" "digest:   $MULTI" "linux/arm64" "first:    sha256:" "config:   sha256:"
t "verify_tag"              run verify "$X/verify_tag" "$R/app:v1"
t "  what it proved"        has "$W/verify" "is what $DEMO_HANDLE signed" "did      $DEMO_DID" "digest   $APP"
t "list_images (from the PDS)" run list "$X/list_images" "$DEMO_HANDLE"
t "  both tags, 4 manifests (an index and its two)" has "$W/list" "app:v1  $APP" "multi:v1  $MULTI" "2 tags, 4 manifests"
t "hold_repo"               run hold "$X/hold_repo" "$HOLD_DID"
t "  verified, with its captain" has "$W/hold" "hold:     $HOLD_DID at $HOLD_URL" "MST verified" "io.atcr.hold.captain: 1" "\"owner\":\"$DEMO_DID\""
t "watch_firehose (the PDS)" run firehose "$X/watch_firehose" "$PDS_URL" 100000 4
t "  our pushes, signatures ok" bash -c "has $W/firehose '$DEMO_DID rev' 'create io.atcr.tag/app:v1' 'create io.atcr.manifest/' &&
                                          ! grep -q 'BAD SIGNATURE' $W/firehose"
t "watch_firehose (the hold, 2 events)" run hold-firehose "$X/watch_firehose" "$HOLD_URL" 2 10
t "  the captain, bounded"  has "$W/hold-firehose" "create io.atcr.hold.captain/self" "2 io.atcr.* events"
# The C interface's registry client (through the Python bindings): a pull
# token, then the tag and the manifest through the AppView.
t "the bindings' registry client (login, tag, manifest)" run py-registry env ATCR_LIBRARY="$ATCR_BUILD/libatcr/libatcr.so" \
  PYTHONPATH="$REPO_ROOT/bindings/python" python3 -c '
import atcr, sys
registry, name, user, password, want = sys.argv[1:]
token = atcr.registry_login(registry, user, password, "repository:%s:pull" % name)
assert atcr.registry_resolve_tag(registry, name, "v1", token) == want
m = atcr.registry_get_manifest(registry, name, "v1", token)
assert m.digest == want and atcr.registry_get_manifest(registry, name, want, token).digest == want, m.digest
try:
    atcr.registry_get_manifest(registry, name, "nope", token)
    sys.exit("a missing tag was found")
except atcr.Error as e:
    assert "MANIFEST_UNKNOWN" in str(e) or "unknown" in str(e).lower(), e
print("ok", m.digest, m.media_type)' "$REGISTRY" "$DEMO_HANDLE/app" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$APP"

check_summary examples
