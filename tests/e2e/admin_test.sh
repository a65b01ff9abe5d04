#!/usr/bin/env bash
# admin_test.sh - the hold's admin panel and Bluesky posts, end to end.
# Chromium (headless, playwright-core: tests/e2e/admin-browser.mjs) signs
# the hold's owner in at <hold>/admin with ATProto OAuth through the
# reference PDS's own authorization UI (the hold is a loopback OAuth client
# here), turns Bluesky posts on, adds a second account to the crew by
# handle, which then pushes with skopeo; removes it, after which its push
# is refused. The member's image is deleted; on the panel's GC page a
# preview lists its layer records, a run removes them, and after the grace
# period a second preview and run delete its blobs (getBlob 404 after).
# A form posted without its CSRF token is refused, and the
# second account signing in gets a 403 page. The post the push made and
# the hold's profile (with its avatar, a PNG served by getBlob to anyone,
# still after the GC runs) are validated against the app.bsky.* lexicons of
# @atproto/api (tests/e2e/validate-bsky.mjs).
# Prints PASS/FAIL per check and exits non-zero if any failed.
#
# Env: ATCR_BUILD (the build dir with apps/), set by meson; ATCR_E2E_DIR,
# ATCR_E2E_APPVIEW_PORT, ATCR_E2E_HOLD_PORT as for clients_test.sh.
set -uo pipefail
LOG_TAG=admin-e2e
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-admin"
export ATCR_HOLD_STORAGE=filesystem ATCR_HOLD_PUBLIC=true ATCR_HOLD_ALLOW_ALL_CREW=false
export ATCR_DEMO_HANDLE="$(fresh_handle admin)"

e2e_workdir admin skopeo python3 curl /usr/bin/chromium
eval "$(bash "$REPO_ROOT/scripts/node-tools.sh")" || die "scripts/node-tools.sh failed"
# The PDS first: the hold resolves .test handles through it.
eval "$(bash "$REPO_ROOT/scripts/pds.sh" start)" || die "scripts/pds.sh start failed"
bash "$REPO_ROOT/scripts/registry.sh" stop >/dev/null 2>&1 || true
rm -rf "$ATCR_REGISTRY_DIR/hold"  # a fresh hold: no crew or settings from an earlier run
# The hold's avatar: a small real PNG.
python3 - "$W/avatar.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + b"".join(bytes([x * 16, y * 16, 200]) for x in range(16)) for y in range(16))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)) + \
      chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
export HOLD_REGISTRATION_PROFILE_AVATAR="$W/avatar.png"
# /metrics on addresses of their own (metrics.addr), the hold's and the AppView's.
HOLD_METRICS_PORT="$(free_port)" AV_METRICS_PORT="$(free_port)"
export HOLD_METRICS_ADDR="127.0.0.1:$HOLD_METRICS_PORT" ATCR_METRICS_ADDR="127.0.0.1:$AV_METRICS_PORT"
# A short GC grace period: the panel's GC page runs collections that delete.
export HOLD_IDENTITY_DEVELOPMENT=true HOLD_IDENTITY_HANDLE_RESOLVER="$PDS_URL" HOLD_GC_GRACE_PERIOD=2s \
  HOLD_REGISTRATION_APPVIEW_URL="http://127.0.0.1:$ATCR_APPVIEW_PORT" \
  HOLD_REGISTRATION_PROFILE_DISPLAY_NAME="Admin e2e hold" \
  HOLD_REGISTRATION_PROFILE_DESCRIPTION=$'Blobs for the crew \u2693, announced on Bluesky.'
e2e_start_stack
export OAUTH_ARTIFACTS="$W"
HOLD="http://127.0.0.1:$ATCR_HOLD_PORT"

json() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
crew_of() {  # crew_of DID: the hold's crew record for DID, or nothing
  curl -sf "$HOLD/xrpc/com.atproto.repo.listRecords?repo=$HOLD_DID&collection=io.atcr.hold.crew&limit=100" |
    python3 -c 'import json,sys; print(*[json.dumps(r["value"]) for r in json.load(sys.stdin)["records"] if r["value"].get("member") == sys.argv[1]])' "$1"
}

# --- the second account (not crew: the hold does not let anyone join) ------
MEMBER="$(fresh_handle crew)"
MEMBER_PW="pw-$RANDOM$RANDOM"
MEMBER_DID="$(curl -s -X POST -H 'content-type: application/json' "$PDS_URL/xrpc/com.atproto.server.createAccount" \
  --data "{\"handle\":\"$MEMBER\",\"password\":\"$MEMBER_PW\",\"email\":\"${MEMBER%%.*}@example.com\"}" | json 'v["did"]')"
[ -n "$MEMBER_DID" ] || die "createAccount $MEMBER failed"
# push.sh STEP: the member pushes a fresh image (new layers: nothing to skip) as <member>/admin:STEP.
cat >"$W/push.sh" <<SH
#!/usr/bin/env bash
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img-\$1" --tag v1 --layers 64K >/dev/null &&
skopeo copy -q --dest-tls-verify=false --dest-creds "$MEMBER:$MEMBER_PW" "oci:$W/img-\$1:v1" \
  "docker://$REGISTRY/$MEMBER/admin:\$1" >>"$LOGF" 2>&1
SH
# drop.sh: the member deletes the image pushed as :allowed; the grace period passes.
cat >"$W/drop.sh" <<SH
#!/usr/bin/env bash
skopeo delete --tls-verify=false --creds "$MEMBER:$MEMBER_PW" "docker://$REGISTRY/$MEMBER/admin:allowed" >>"$LOGF" 2>&1 &&
sleep 3
SH
chmod +x "$W/push.sh" "$W/drop.sh"
t "before: the member's push is refused" bash -c "! '$W/push.sh' before"

# --- the owner at work, in the browser --------------------------------------
start=$(date +%s%N)
out="$("$ATCR_NODE" "$REPO_ROOT/tests/e2e/admin-browser.mjs" "$HOLD" "$DEMO_HANDLE" "$DEMO_PASSWORD" \
  "$MEMBER" "$MEMBER_DID" "$MEMBER_PW" "$W/push.sh" "$W/drop.sh" 2>>"$LOGF")"
echo "browser: $out ($(( ($(date +%s%N) - start) / 1000000 )) ms)" | tee -a "$LOGF"
[ -n "$out" ] || out='{}'
r() { json "v.get('$1')" <<<"$out"; }
t "signed out: the panel sends the browser to its sign-in" [ "$(r loginRedirect)" = /admin/auth/login ]
t "the owner signs in with OAuth and lands on the crew page" bash -c "[ '$(r whoami)' = '$DEMO_HANDLE' ] && [ '$(r landed)' = /admin/crew ]"
t "settings: Bluesky posts on, in the captain record" bash -c "[ '$(r postsOn)' = True ] &&
  curl -sf '$HOLD/xrpc/com.atproto.repo.getRecord?repo=$HOLD_DID&collection=io.atcr.hold.captain&rkey=self' | grep -q '\"enableBlueskyPosts\":true'"
t "crew: the member, added by handle, is listed" [ "$(r memberListed)" = True ]
t "the member is crew: the push goes through" [ "$(r pushAfterAdd)" = True ]
t "crew: removed, no longer listed" [ "$(r memberListedAfterRemove)" = False ]
t "removed: the member's push is refused" [ "$(r pushAfterRemove)" = False ]
t "the member deletes the image it pushed" [ "$(r imageDropped)" = True ]
t "gc page: a preview lists the image's layer records" bash -c 'grep -q "^Preview: " <<<"$1" && grep -q layer-record <<<"$2"' _ "$(r gcPreview)" "$(r gcPreviewKinds)"
t "gc page: a run removes them (blobs wait out the grace period)" bash -c 'grep -Eq "Collected: 0 blob\(s\) deleted, .* [1-9][0-9]* layer record" <<<"$1"' _ "$(r gcRun1)"
t "gc page: the next preview lists the blobs, with why" bash -c 'grep -q "'"'"'blob'"'"'" <<<"$1" && grep -q "no layer record" <<<"$2"' _ "$(r gcPreview2Kinds)" "$(r gcPreview2Reasons)"
t "gc page: the next run deletes them" bash -c 'grep -Eq "Collected: [1-9][0-9]* blob\(s\) deleted" <<<"$1" && grep -q "'"'"'blob'"'"'" <<<"$2"' _ "$(r gcRun2)" "$(r gcLastKinds)"
t "gc page: last runs lists both runs and both previews" bash -c '[ "$1" = 2 ] && [ "$2" = 2 ]' _ "$(r gcRuns)" "$(r gcPreviews)"
layer="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]))["layers"][0]["digest"])' "$W/img-allowed")"
t "... and the hold no longer serves the image's layer" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$HOLD/xrpc/com.atproto.sync.getBlob?did=$HOLD_DID&cid=$layer')\" = 404 ]"
t "a form without its CSRF token is refused (403)" [ "$(r noCsrfStatus)" = 403 ]
t "... and wrote nothing: no crew record for the member" [ -z "$(crew_of "$MEMBER_DID")" ]
t "logout (a POST form) ends the session" [ "$(r afterLogout)" = /admin/auth/login ]
t "someone else signing in gets a 403 page" bash -c 'grep -qi "for the hold.s owner" <<<"$1"' _ "$(r memberError)"
t "... and no session" [ "$(r memberAfter)" = /admin/auth/login ]

# --- outside the browser ----------------------------------------------------
t "logout without a CSRF token refused" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -d csrf=forged '$HOLD/admin/auth/logout')\" = 403 ]"
t "client metadata names the admin callback" bash -c "curl -sf '$HOLD/client-metadata.json' | grep -q 'admin%2Fauth%2Fcallback\|admin/auth/callback'"
t "hostile sign-in input: a 400 page, escaped" bash -c "[ \"\$(curl -s -o '$W/hostile' -w '%{http_code}' '$HOLD/admin/auth/authorize?handle=%3Cscript%3Ex%3C/script%3E')\" = 400 ] &&
  ! grep -q '<script>x' '$W/hostile'"

# --- Bluesky: the push's post and the hold's profile ------------------------
t "the push's post and the profile validate against app.bsky.* (@atproto/api)" \
  "$ATCR_NODE" "$REPO_ROOT/tests/e2e/validate-bsky.mjs" "$HOLD" "$HOLD_DID" "http://127.0.0.1:$ATCR_APPVIEW_PORT" "$MEMBER/admin:allowed" "$W/avatar.png"
export_posts() {  # the member's exportUserData (a service token from its PDS): its blueskyPosts' texts
  python3 - "$PDS_URL" "$MEMBER" "$MEMBER_PW" "$HOLD" "$HOLD_DID" <<'PY'
import json, sys, urllib.parse, urllib.request
pds, handle, password, hold, hold_did = sys.argv[1:]
def call(url, body=None, token=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None)
    if body is not None: req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req, timeout=10))
s = call(f"{pds}/xrpc/com.atproto.server.createSession", {"identifier": handle, "password": password})
q = urllib.parse.urlencode({"aud": hold_did, "lxm": "io.atcr.hold.exportUserData"})
token = call(f"{pds}/xrpc/com.atproto.server.getServiceAuth?{q}", token=s["accessJwt"])["token"]
out = call(f"{hold}/xrpc/io.atcr.hold.exportUserData", token=token)
assert out["userDid"] == s["did"], out
for p in out["blueskyPosts"]:
    assert p["uri"].startswith(f"at://{hold_did}/app.bsky.feed.post/") and p["createdAt"], p
    print(p["text"])
PY
}
t "exportUserData: the member's blueskyPosts hold its push's post" bash -c 'grep -q "admin:allowed" <<<"$1"' _ "$(export_posts)"
t "storage page: the member's repository and usage, the blobs stored" bash -c \
  'grep -q "admin" <<<"$1" && grep -q "$3" <<<"$2" && grep -Eq "^[1-9][0-9]* blob\(s\) stored, [0-9.]+ [KM]?B\.$" <<<"$4"' \
  _ "$(r storageRepositories)" "$(r storageUsage)" "$MEMBER" "$(r storageBlobs)"
t "/metrics on the hold's metrics.addr (and not on its main port)" bash -c "
  curl -sf http://$HOLD_METRICS_ADDR/metrics | grep -q '^atcr_hold_uploads_in_flight ' &&
  curl -sf http://$HOLD_METRICS_ADDR/metrics | grep -q 'atcr_http_requests_total{route=\"/admin/gc/run\",method=\"POST\",status=\"303\"}' &&
  [ \"\$(curl -s -o /dev/null -w '%{http_code}' $HOLD/metrics)\" = 404 ]"
t "/metrics on the AppView's metrics.addr (and not on its main port)" bash -c "
  curl -sf http://$ATCR_METRICS_ADDR/metrics | grep -q '^atcr_http_requests_total{' &&
  [ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/metrics)\" = 404 ]"
t "no post for the refused push" bash -c "! curl -sf '$HOLD/xrpc/com.atproto.repo.listRecords?repo=$HOLD_DID&collection=app.bsky.feed.post' | grep -q 'admin:refused'"

check_summary "admin e2e"
