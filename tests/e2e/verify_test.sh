#!/usr/bin/env bash
# verify_test.sh - `atcr verify` against the whole stack (scripts/registry.sh:
# the reference PDS + PLC, a hold, the appview):
#   - skopeo pushes two images; verify proves one by handle and by DID
#     (text and --json output checked against the PDS, the PLC directory
#     and the bytes skopeo pulls), anonymously and with credentials;
#   - a registry that serves other bytes (hostile_registry.py, a proxy in
#     front of the AppView that rewrites manifests and their
#     Docker-Content-Digest: the attacker) fails;
#   - records tampered in the real PDS (com.atproto.repo.putRecord): the
#     manifest record rewritten with another digest, and the tag pointed at
#     another repository's manifest, fail; so do a tag that does not exist,
#     a registry that cannot be reached and a malformed reference.
# Each failure must exit non-zero with its reason.
#
# Env: ATCR_BUILD (set by meson), the ATCR_E2E_* ports and dir.
set -uo pipefail
LOG_TAG=verify
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-verify"
export ATCR_DEMO_HANDLE="$(fresh_handle vf)"
e2e_workdir verify skopeo python3 curl
proxy=""
e2e_stop() { [ -z "$proxy" ] || kill "$proxy" 2>/dev/null; }
e2e_start_stack
CREDS="$DEMO_HANDLE:$DEMO_PASSWORD"
R="$REGISTRY/$DEMO_HANDLE"
SKD=(--dest-tls-verify=false --dest-creds "$CREDS")
ATCR=("$ATCR_BUILD/apps/atcr" --dev --plc "$PLC_URL" --handle-resolver "$PDS_URL")

mk() { python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/$1" --tag v1 "${@:2}" >/dev/null; }
served() { skopeo inspect --raw --tls-verify=false "docker://$1" | sha256sum | cut -d' ' -f1; }
# expect_fail STATUS TEXT CMD...: CMD exits with STATUS and its stderr says TEXT.
expect_fail() {
  local want="$1" text="$2" status
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  status=$?
  cat "$W/out" "$W/err"
  [ "$status" = "$want" ] || { echo "exit status $status, expected $want"; return 1; }
  grep -qF -- "$text" "$W/err" || { echo "stderr does not say: $text"; return 1; }
}
# The JSON output's field (dotted path).
jfield() { python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$1" "$2"; }
export -f jfield
# putRecord through the owner's session: tamper REPO_COLLECTION RKEY PYTHON-EXPR-ON-record
tamper() {
  python3 - "$PDS_URL" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$@" <<'PY'
import json, sys, urllib.parse, urllib.request
pds, handle, password, collection, rkey, change = sys.argv[1:]
def call(nsid, body=None, token=None, **params):
    url = f"{pds}/xrpc/{nsid}" + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
s = call("com.atproto.server.createSession", {"identifier": handle, "password": password})
record = call("com.atproto.repo.getRecord", repo=s["did"], collection=collection, rkey=rkey)["value"]
exec(change)
call("com.atproto.repo.putRecord", {"repo": s["did"], "collection": collection, "rkey": rkey, "record": record},
     s["accessJwt"])
PY
}

mk app --layers 64K
mk other --layers 32K
t "push app:v1 and other:v1"         bash -c "skopeo copy -q ${SKD[*]} oci:$W/app:v1 docker://$R/app:v1 &&
                                        skopeo copy -q ${SKD[*]} oci:$W/other:v1 docker://$R/other:v1"
DIGEST="sha256:$(served "$R/app:v1")"

t "verify by handle"                 bash -c "${ATCR[*]} verify $R/app:v1 | tee $W/text"
t "  says what it proved"            bash -c "grep -F 'verified $R/app:v1' $W/text && grep -F '$DEMO_DID' $W/text &&
                                        grep -F '$DEMO_HANDLE (resolves to the DID and back)' $W/text &&
                                        grep -F 'pds:       $PDS_URL' $W/text && grep -F 'digest:    $DIGEST' $W/text &&
                                        grep -E 'commit:    rev [a-z2-7]{13} \(bafyrei[a-z2-7]+\), signed 20[0-9-]{8}T' $W/text"
t "verify --json by DID, with creds" bash -c "${ATCR[*]} --json --creds '$CREDS' verify $REGISTRY/$DEMO_DID/app:v1 >$W/json"
t "  the DID, handle, digest"        bash -c "[ \"\$(jfield $W/json did)\" = '$DEMO_DID' ] && [ \"\$(jfield $W/json handle)\" = '$DEMO_HANDLE' ] &&
                                        [ \"\$(jfield $W/json digest)\" = '$DIGEST' ]"
# The key checked is the one the PLC directory publishes now.
t "  the key is the DID's current one" bash -c "curl -sf '$PLC_URL/$DEMO_DID/data' | python3 -c '
import json, sys; print(\"did:key:\" + json.load(sys.stdin)[\"verificationMethods\"][\"atproto\"].split(\":\")[-1])' >$W/plc_key &&
                                        [ \"\$(jfield $W/json signingKey)\" = \"\$(cat $W/plc_key)\" ]"
t "  the tag's record is the PDS's"  bash -c "[ \"\$(jfield $W/json tag.cid)\" = \"\$(curl -sf '$PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$DEMO_DID&collection=io.atcr.tag&rkey=app:v1' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"cid\"])')\" ]"
t "atcr resolve"                     bash -c "${ATCR[*]} resolve $DEMO_HANDLE | grep -F 'did:     $DEMO_DID'"

# --- a registry that serves other bytes -----------------------------------
python3 "$REPO_ROOT/tests/e2e/hostile_registry.py" "http://$REGISTRY" "$W/proxy-port" 2>"$W/proxy.log" &
proxy=$!
for _ in $(seq 50); do [ -s "$W/proxy-port" ] && break; sleep 0.1; done
HOSTILE="127.0.0.1:$(cat "$W/proxy-port" 2>/dev/null)"
t "the hostile proxy serves other bytes" bash -c "[ \"sha256:\$(skopeo inspect --raw --tls-verify=false docker://$HOSTILE/$DEMO_HANDLE/app:v1 | sha256sum | cut -d' ' -f1)\" != '$DIGEST' ]"
t "verify through it fails"          expect_fail 1 "the registry serves a manifest whose sha256 is" \
                                        "${ATCR[@]}" verify "$HOSTILE/$DEMO_HANDLE/app:v1"

# --- what cannot be checked, and mistakes ------------------------------------
t "a tag that does not exist"        expect_fail 1 "io.atcr.tag/app:nope does not exist" "${ATCR[@]}" verify "$R/app:nope"
t "a registry that is not there"     expect_fail 3 "FAILED" "${ATCR[@]}" verify "127.0.0.1:1/$DEMO_HANDLE/app:v1"
t "a malformed reference"            expect_fail 2 "registry/identity/repository" "${ATCR[@]}" verify "$DEMO_HANDLE/app"

# --- records tampered in the owner's PDS -------------------------------------
MANIFEST_RKEY="$(jfield "$W/json" manifest.uri | sed 's|.*/||')"
OTHER_URI="$(curl -sf "$PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$DEMO_DID&collection=io.atcr.tag&rkey=other:v1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["manifest"])')"
t "tamper: the manifest record's digest" tamper io.atcr.manifest "$MANIFEST_RKEY" "record['digest'] = 'sha256:' + 'ab' * 32"
t "verify fails"                     expect_fail 1 "but its manifest record at://$DEMO_DID/io.atcr.manifest/$MANIFEST_RKEY says sha256:abab" \
                                        "${ATCR[@]}" verify "$R/app:v1"
t "tamper: the tag points at other's manifest" tamper io.atcr.tag app:v1 "record['manifest'] = '$OTHER_URI'; record.pop('manifestDigest', None)"
t "verify fails"                     expect_fail 1 "is for repository other, not app" "${ATCR[@]}" verify "$R/app:v1"

check_summary verify
