#!/usr/bin/env bash
# gc_test.sh - the hold's online garbage collection against the whole stack
# (scripts/registry.sh: reference PDS, hold, appview), on the filesystem and
# on radosgw:
#   - skopeo pushes images; one is deleted (its manifest record goes), one
#     is re-tagged to another image while the user's io.atcr.sailor.profile
#     says autoRemoveUntagged;
#   - `atcr-hold gc --dry-run` lists what would go; runs mark, then sweep
#     past the grace period, while another skopeo keeps pushing;
#   - the hold is killed with SIGKILL in the middle of the sweep and a
#     re-run finishes it;
#   - every still-referenced image pulls byte-for-byte, every blob only the
#     dropped images used is gone, and the bytes freed (all runs together)
#     are exactly those blobs' sizes.
#
# Env: ATCR_BUILD (set by meson), the ATCR_E2E_* ports and dir.
set -uo pipefail
LOG_TAG=gc
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-gc"
e2e_workdir gc skopeo python3 curl
pusher=""
e2e_stop() { [ -z "$pusher" ] || kill "$pusher" 2>/dev/null; }
same() { [ "$1" = "$2" ] || { echo "mismatch: '$1' != '$2'"; return 1; }; }
mk() { python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/$1" --tag v1 "${@:2}" >/dev/null; }
# The blobs (config and layers, every platform) of an OCI layout: "digest size" lines.
blobs_of() {
  python3 - "$@" <<'PY'
import json, os, sys
for d in sys.argv[1:]:
    def blob(dg): return os.path.join(d, "blobs", *dg.split(":"))
    todo = [json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"]]
    while todo:
        m = json.load(open(blob(todo.pop())))
        todo += [c["digest"] for c in m.get("manifests", [])]
        for b in ([m["config"]] if "config" in m else []) + m.get("layers", []):
            print(b["digest"], os.path.getsize(blob(b["digest"])))
PY
}
# Every blob of the source layout is in the pulled one, byte for byte.
identical() {
  blobs_of "$1" | while read -r dg _; do cmp -s "$1/blobs/${dg/://}" "$2/blobs/${dg/://}" || { echo "differs: $dg"; exit 1; }; done
}
# `atcr-hold gc` with the running hold's own settings (its environment).
hold_gc() {
  local pid; pid="$(cat "$ATCR_REGISTRY_DIR/run/hold.pid")"
  local -a envs; mapfile -d '' envs <"/proc/$pid/environ"
  env -i "${envs[@]}" "$ATCR_BUILD/apps/atcr-hold" gc --json "$@"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
blob_status() { curl -s -o /dev/null -w '%{http_code}' -I "$HOLD_URL/xrpc/com.atproto.sync.getBlob?did=${HOLD_DID//%/%25}&cid=$1"; }

set_auto_remove_untagged() {
  python3 - "$PDS_URL" "$DEMO_HANDLE" "$DEMO_PASSWORD" <<'PY'
import json, sys, urllib.request
pds, handle, password = sys.argv[1:]
def call(nsid, body, token=None):
    req = urllib.request.Request(f"{pds}/xrpc/{nsid}", data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
s = call("com.atproto.server.createSession", {"identifier": handle, "password": password})
rec = {"$type": "io.atcr.sailor.profile", "createdAt": "2026-01-01T00:00:00.000Z", "autoRemoveUntagged": True}
call("com.atproto.repo.putRecord", {"repo": s["did"], "collection": "io.atcr.sailor.profile", "rkey": "self",
                                    "record": rec}, s["accessJwt"])
PY
}

mk keep --layers 300K,300K
mk shared --layers 200K
mk gone --layers 400K,100K
mk retag-old --layers 250K
mk retag-new --layers 150K
mk multi --layers 120K --platforms linux/amd64,linux/arm64/v8
for i in 1 2 3 4 5 6; do mk "bg$i" --layers 64K; done

for storage in filesystem s3; do
  echo "--- hold storage: $storage"
  # A short grace period, and a pause per deleted blob so the kill below
  # lands in the middle of a sweep.
  export ATCR_HOLD_STORAGE="$storage" ATCR_DEMO_HANDLE="$(fresh_handle gc "${storage:0:2}")"
  # The users' PDS is on loopback: the hold may read it in development.
  # The bucket is shared with every other stack: this hold gets a prefix
  # of its own (garbage collection owns everything under it).
  export HOLD_GC_GRACE_PERIOD=3s ATCR_HOLD_GC_DELETE_DELAY_MS=400 HOLD_IDENTITY_DEVELOPMENT=true
  export HOLD_STORAGE_PREFIX="gc-test-$$-$(date +%s)/"
  e2e_start_stack --fresh
  CREDS="$DEMO_HANDLE:$DEMO_PASSWORD"
  R="$REGISTRY/$DEMO_HANDLE"
  SKD=(--dest-tls-verify=false --dest-creds "$CREDS")
  SKS=(--src-tls-verify=false --src-creds "$CREDS")

  t "push the images"            bash -c "set -e
    skopeo copy -q ${SKD[*]} oci:$W/keep:v1 docker://$R/keep:v1
    skopeo copy -q ${SKD[*]} oci:$W/shared:v1 docker://$R/shared:v1
    skopeo copy -q ${SKD[*]} oci:$W/gone:v1 docker://$R/gone:v1
    skopeo copy -q ${SKD[*]} oci:$W/retag-old:v1 docker://$R/retag:v1
    skopeo copy -q --all ${SKD[*]} oci:$W/multi:v1 docker://$R/multi:v1"
  # mkimage's layers are random: what only the dropped images use is
  # exactly their own blobs.
  t "delete an image"            skopeo delete --tls-verify=false --creds "$CREDS" "docker://$R/gone:v1"
  t "re-tag another"             skopeo copy -q "${SKD[@]}" "oci:$W/retag-new:v1" "docker://$R/retag:v1"
  t "profile: autoRemoveUntagged" set_auto_remove_untagged
  expected=$(blobs_of "$W/gone" "$W/retag-old" | sort -u | awk '{s += $2} END {print s}')
  gone_blobs=$(blobs_of "$W/gone" "$W/retag-old" | sort -u | cut -d' ' -f1)
  gone_records=$(blobs_of "$W/gone" "$W/retag-old" | wc -l)

  t "dry run: nothing is old enough yet" bash -c "$(declare -f hold_gc field); hold_gc --dry-run >$W/dry.json && test \"\$(field $W/dry.json blobsDeleted)\" = 0 && test \"\$(field $W/dry.json dryRun)\" = True"
  sleep 4  # past the grace period: the layer records of the dropped images may go now
  t "run 1: layer records go, blobs are marked" bash -c "$(declare -f hold_gc field); hold_gc >$W/run1.json && test \"\$(field $W/run1.json layerRecordsDeleted)\" = $gone_records && test \"\$(field $W/run1.json blobsDeleted)\" = 0"
  t "dry run: says what would go and why" bash -c "sleep 4; $(declare -f hold_gc field); hold_gc --dry-run >$W/dry2.json && test \"\$(field $W/dry2.json bytesFreed)\" = $expected && grep -q 'no layer record' $W/dry2.json"

  # Pushes go on through the sweep (and the kill).
  (i=0; while :; do i=$((i % 6 + 1)); skopeo copy -q "${SKD[@]}" "oci:$W/bg$i:v1" "docker://$R/bg$i:v1" >/dev/null 2>&1; done) &
  pusher=$!
  # Run 2 is killed with the hold after its first deletions.
  hold_gc >"$W/run2.json" 2>"$W/run2.err" &
  gc_pid=$!
  for _ in $(seq 100); do grep -q "gc: deleted blob" "$ATCR_REGISTRY_DIR/log/hold.log" && break; sleep 0.1; done
  t "the sweep started"          grep -q "gc: deleted blob" "$ATCR_REGISTRY_DIR/log/hold.log"
  kill -KILL "$(cat "$ATCR_REGISTRY_DIR/run/hold.pid")"
  wait "$gc_pid" 2>/dev/null
  t "  and was cut short"        bash -c "! test -s $W/run2.json"
  cp "$ATCR_REGISTRY_DIR/log/hold.log" "$W/hold-before-kill.log"
  unset ATCR_HOLD_GC_DELETE_DELAY_MS
  env_lines="$(bash "$REPO_ROOT/scripts/registry.sh" start)" || die "restarting the hold failed"
  t "run 3 finishes the job"     bash -c "$(declare -f hold_gc field); hold_gc >$W/run3.json && test \"\$(field $W/run3.json blobsDeleted)\" -gt 0"
  kill "$pusher" 2>/dev/null; wait "$pusher" 2>/dev/null; pusher=""
  # A push the pusher's kill cut short may leave a layer no manifest uses:
  # that goes too, and is the only other thing that may.
  t "run 4 finds at most what the killed pusher left" bash -c "sleep 4; $(declare -f hold_gc field); hold_gc >$W/run4.json && test \"\$(field $W/run4.json blobsDeleted)\" -le 1"
  freed=$(cat "$W/hold-before-kill.log" "$ATCR_REGISTRY_DIR/log/hold.log" | sed -n 's/.*gc: deleted blob \(sha256:[0-9a-f]*\) (\([0-9]*\) bytes).*/\1 \2/p' |
    grep -F -f <(echo "$gone_blobs") | awk '{s += $2} END {print s + 0}')
  t "bytes freed = what only the dropped images used ($expected)" same "$freed" "$expected"
  for dg in $gone_blobs; do
    t "  $dg is gone"            same "$(blob_status "$dg")" 404
  done
  kept_one=$(blobs_of "$W/keep" | head -1 | cut -d' ' -f1)
  t "  (and a kept one answers)"   same "$(blob_status "$kept_one")" 200
  rm -rf "$W"/pulled-*
  t "keep pulls byte for byte"   bash -c "skopeo copy -q ${SKS[*]} docker://$R/keep:v1 oci:$W/pulled-keep:v1 && $(declare -f identical blobs_of); identical $W/keep $W/pulled-keep"
  t "shared pulls byte for byte" bash -c "skopeo copy -q ${SKS[*]} docker://$R/shared:v1 oci:$W/pulled-shared:v1 && $(declare -f identical blobs_of); identical $W/shared $W/pulled-shared"
  t "re-tagged pulls byte for byte" bash -c "skopeo copy -q ${SKS[*]} docker://$R/retag:v1 oci:$W/pulled-retag:v1 && $(declare -f identical blobs_of); identical $W/retag-new $W/pulled-retag"
  t "multi-arch pulls byte for byte" bash -c "skopeo copy -q --all ${SKS[*]} docker://$R/multi:v1 oci:$W/pulled-multi:v1 && $(declare -f identical blobs_of); identical $W/multi $W/pulled-multi"
  for i in 1 2 3 4 5 6; do
    skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$R/bg$i:v1" >/dev/null 2>&1 || continue
    t "pushed during gc: bg$i pulls byte for byte" bash -c "skopeo copy -q ${SKS[*]} docker://$R/bg$i:v1 oci:$W/pulled-bg$i:v1 && $(declare -f identical blobs_of); identical $W/bg$i $W/pulled-bg$i"
  done
  t "/metrics reports the freed bytes" bash -c "curl -s $HOLD_URL/metrics | grep -q '^atcr_hold_gc_bytes_freed_total '"
  t "  and requests by route"   bash -c "curl -s $HOLD_URL/metrics | grep -q 'atcr_http_requests_total{route=\"/xrpc/io.atcr.hold.notifyManifest\"'"
  t "the AppView's /metrics"     bash -c "curl -s http://$REGISTRY/metrics | grep -q 'atcr_http_requests_total{route='"
  if ((fail)); then
    for f in "$W"/run*.json "$W"/dry*.json "$W/run2.err"; do echo "--- $f"; cat "$f" 2>/dev/null | head -c 3000; echo; done
    break
  fi
done

check_summary "e2e gc" "$ATCR_REGISTRY_DIR/log/hold.log"
