#!/usr/bin/env bash
# clients_test.sh - real OCI clients (skopeo, podman, buildah) against a
# whole atcr stack on loopback: the reference PDS, a PRIVATE hold on radosgw
# (owner: the demo account; no self-service crew), and the appview.
# Prints PASS/FAIL per check and exits non-zero if any failed.
#
# Env: ATCR_BUILD (the build dir with apps/), set by meson.
set -uo pipefail
LOG_TAG=e2e
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack ""
export ATCR_HOLD_STORAGE=s3 ATCR_HOLD_PUBLIC=false ATCR_HOLD_ALLOW_ALL_CREW=false
export ATCR_DEMO_HANDLE="$(fresh_handle e2e)"

e2e_workdir clients skopeo podman buildah python3 curl
e2e_start_stack
H="$REGISTRY"
CREDS="$DEMO_HANDLE:$DEMO_PASSWORD"
R="$H/$DEMO_HANDLE"

same() { [ "$1" = "$2" ] || { echo "mismatch: '$1' != '$2'"; return 1; }; }
# The digest of the manifest the registry serves, by hashing its bytes.
served() { skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$1" | sha256sum | cut -d' ' -f1; }
# The digest an OCI layout's index.json points at.
layout() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:])' "$1"; }
mk() { python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/$1" --tag v1 "${@:2}" >/dev/null; }

mk small --layers 1M,1M,1M
mk multi --layers 1M --platforms linux/amd64,linux/arm64/v8
SKD=(--dest-tls-verify=false --dest-creds "$CREDS")
SKS=(--src-tls-verify=false --src-creds "$CREDS")
ROOTS=(--root "$W/storage" --runroot "$W/run" --storage-driver vfs)

# --- skopeo -----------------------------------------------------------------
t "skopeo push"                      skopeo copy -q "${SKD[@]}" "oci:$W/small:v1" "docker://$R/small:v1"
t "  manifest digest round-trips"    same "$(served "$R/small:v1")" "$(layout "$W/small")"
t "skopeo pull"                      skopeo copy -q "${SKS[@]}" "docker://$R/small:v1" "oci:$W/pulled:v1"
t "  pulled digest round-trips"      same "$(layout "$W/pulled")" "$(layout "$W/small")"
t "skopeo push by digest"            skopeo copy -q "${SKD[@]}" "oci:$W/small:v1" "docker://$R/bydigest@sha256:$(layout "$W/small")"
t "skopeo copy --all (multi-arch)"   skopeo copy -q --all "${SKD[@]}" "oci:$W/multi:v1" "docker://$R/multi:v1"
t "  index digest round-trips"       same "$(served "$R/multi:v1")" "$(layout "$W/multi")"
t "skopeo pull --all"                skopeo copy -q --all "${SKS[@]}" "docker://$R/multi:v1" "oci:$W/pulled-multi:v1"
t "skopeo second tag"                skopeo copy -q "${SKD[@]}" "oci:$W/small:v1" "docker://$R/small:v2"
t "skopeo list-tags"                 bash -c "skopeo list-tags --tls-verify=false --creds '$CREDS' docker://$R/small | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"Tags\"] == [\"v1\", \"v2\"]'"
# skopeo deletes by digest: every tag of that manifest goes (distribution-spec).
mk other --layers 1M
t "skopeo delete"                    bash -c "skopeo copy -q ${SKD[*]} oci:$W/other:v1 docker://$R/other:v1 && skopeo delete --tls-verify=false --creds '$CREDS' docker://$R/other:v1"
t "  deleted image is gone"          bash -c "! skopeo inspect --raw --tls-verify=false --creds '$CREDS' docker://$R/other:v1"
t "  others are untouched"           skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$R/small:v1"
t "wrong password is refused"        bash -c "! skopeo copy -q --dest-tls-verify=false --dest-creds '$DEMO_HANDLE:wrong' oci:$W/small:v1 docker://$R/nope:v1"
t "  /auth/token answers 401"        same "$(curl -s -o /dev/null -w '%{http_code}' -u "$DEMO_HANDLE:wrong" "http://$H/auth/token?service=$H&scope=repository:$DEMO_HANDLE/small:pull")" 401

# --- podman / buildah (vfs storage, private roots) --------------------------
P=(podman "${ROOTS[@]}")
B=(buildah "${ROOTS[@]}")
t "podman pull"                      "${P[@]}" pull -q --tls-verify=false --creds "$CREDS" "$R/small:v1"
t "podman push"                      "${P[@]}" push -q --tls-verify=false --creds "$CREDS" "$R/small:v1" "$R/podman:v1"
t "  podman's push is pullable"      skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$R/podman:v1"
head -c 2M /dev/urandom >"$W/rand.bin"
t "buildah build + push"             bash -c "c=\$(${B[*]} from scratch) && ${B[*]} copy \$c $W/rand.bin /rand.bin && ${B[*]} commit -q --format oci \$c localhost/e2e:v1 && ${B[*]} push -q --tls-verify=false --creds '$CREDS' localhost/e2e:v1 docker://$R/buildah:v1"
t "  buildah's push is pullable"     skopeo copy -q "${SKS[@]}" "docker://$R/buildah:v1" "dir:$W/buildah-pulled"

# --- docker-credential-atcr: login, the helper protocol, podman using it -----
HELPER="$ATCR_BUILD/apps/docker-credential-atcr"
export ATCR_CREDENTIALS_FILE="$W/credentials.json"
t "credential helper: wrong password refused" bash -c "! printf wrong | $HELPER login $H --username $DEMO_HANDLE --password-stdin"
t "credential helper: login"         bash -c "printf %s '$DEMO_PASSWORD' | $HELPER login $H --username $DEMO_HANDLE --password-stdin"
t "credential helper: get"           bash -c "echo $H | $HELPER get | grep -q '\"Username\":\"$DEMO_HANDLE\"'"
printf '{"credHelpers":{"%s":"atcr"}}' "$H" >"$W/helper-auth.json"
t "podman pull through the helper"   env PATH="$ATCR_BUILD/apps:$PATH" "${P[@]}" pull -q --tls-verify=false --authfile "$W/helper-auth.json" "$R/small:v1"
t "credential helper: erase"         bash -c "echo $H | $HELPER erase && ! (echo $H | $HELPER get)"

# --- the private hold: strangers and anonymous clients cannot pull ----------
other="x$(date +%s | tail -c 6)other.test"
other_pw="pw-$RANDOM$RANDOM"
curl -s -X POST -H 'content-type: application/json' "$PDS_URL/xrpc/com.atproto.server.createAccount" \
  --data "{\"handle\":\"$other\",\"password\":\"$other_pw\",\"email\":\"${other%%.*}@example.com\"}" >>"$LOGF"
t "non-crew pull is denied"          bash -c "! skopeo copy -q --src-tls-verify=false --src-creds '$other:$other_pw' docker://$R/small:v1 dir:$W/denied"
t "anonymous pull is denied"         bash -c "! skopeo copy -q --src-tls-verify=false docker://$R/small:v1 dir:$W/denied-anon"

# --- a manifest record tampered with in the PDS is refused ------------------
# Point the v1 manifest record's manifestBlob at other bytes.
tamper() {
  python3 - "$PDS_URL" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$(layout "$W/small")" <<'PY'
import json, sys, urllib.request
pds, handle, password, digest_hex = sys.argv[1:]
def call(method, nsid, body=None, token=None, ctype="application/json", params=""):
    req = urllib.request.Request(f"{pds}/xrpc/{nsid}{params}", data=body, method=method)
    if token: req.add_header("Authorization", "Bearer " + token)
    if body is not None: req.add_header("Content-Type", ctype)
    return json.load(urllib.request.urlopen(req))
s = call("POST", "com.atproto.server.createSession", json.dumps({"identifier": handle, "password": password}).encode())
tok, did = s["accessJwt"], s["did"]
# Manifest records are keyed by TID: find it by its repository and digest.
listed = call("GET", "com.atproto.repo.listRecords", params=f"?repo={did}&collection=io.atcr.manifest&limit=100")
rkey, rec = next((r["uri"].rsplit("/", 1)[1], r["value"]) for r in listed["records"]
                 if r["value"]["repository"] == "small" and r["value"]["digest"] == "sha256:" + digest_hex)
blob = call("POST", "com.atproto.repo.uploadBlob", b'{"schemaVersion":2,"evil":true}', tok, rec["mediaType"])["blob"]
rec["manifestBlob"] = blob
call("POST", "com.atproto.repo.putRecord", json.dumps({"repo": did, "collection": "io.atcr.manifest",
     "rkey": rkey, "record": rec}).encode(), tok)
PY
}
t "tamper with the manifest record"  tamper
# The appview keeps verified manifests cached: a fresh one must read the PDS.
bash "$REPO_ROOT/scripts/registry.sh" stop >/dev/null 2>&1
bash "$REPO_ROOT/scripts/registry.sh" start >>"$LOGF" 2>&1 || { tail -n 30 "$LOGF"; die "restarting the stack failed"; }
t "  tampered manifest is refused"   bash -c "! skopeo inspect --raw --tls-verify=false --creds '$CREDS' docker://$R/small@sha256:$(layout "$W/small") 2>$W/tampered.err"
# The appview answers 502 MANIFEST_INVALID (the PDS served bytes that do not hash to the digest).
t "    because its bytes do not match" bash -c "cat $W/tampered.err; grep -qiE 'manifest invalid|hashes to|502' $W/tampered.err"

check_summary "e2e clients" "$ATCR_REGISTRY_DIR/log/appview.log" "$ATCR_REGISTRY_DIR/log/hold.log"
