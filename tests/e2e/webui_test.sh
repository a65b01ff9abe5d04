#!/usr/bin/env bash
# webui_test.sh - the AppView's web UI end to end, against the whole stack
# (reference PDS, two holds, the appview) with Debian's chromium driven by
# playwright-core (tests/e2e/webui-browser.mjs):
#   * a multi-arch image pushed with skopeo shows on / and on its repository
#     page within 5 s (the AppView indexes what it writes), and so does one
#     pushed through a second AppView with an index of its own: that one
#     only the firehose consumer (of the reference PDS) can bring;
#   * a repository page record with an avatar, written straight to the PDS:
#     its avatar shows (served byte for byte, checked); an SVG never is;
#   * signed in through the PDS's real OAuth pages: star and unstar (the
#     io.atcr.sailor.star record checked in the PDS with getRecord), the
#     README written in the page editor (HTML and javascript: links do not
#     survive), search by a word of it and by the repository's name;
#   * /settings sets the default hold to a second hold: the next push's
#     blobs land there (its layer records and files, the manifest's holdDid);
#   * a second PDS account sees the first's repositories;
#   * no console errors on any page; unknown users and repositories are 404
#     pages; screenshots of every page in $ATCR_BUILD/screenshots/.
# Prints PASS/FAIL per check and exits non-zero if any failed.
#
# Env: ATCR_BUILD (set by meson); ATCR_E2E_DIR, ATCR_E2E_APPVIEW_PORT,
# ATCR_E2E_HOLD_PORT as for clients_test.sh.
set -uo pipefail
LOG_TAG=webui-e2e
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-webui"
export ATCR_HOLD_STORAGE=filesystem ATCR_HOLD_PUBLIC=true ATCR_HOLD_ALLOW_ALL_CREW=true
export ATCR_DEMO_HANDLE="$(fresh_handle web)"
BUILD="${ATCR_BUILD:-$REPO_ROOT/build}"
export SCREENSHOTS="$BUILD/screenshots"

e2e_workdir webui skopeo python3 curl /usr/bin/chromium
e2e_stop() {
  stop_daemon "$W" appview2 atcr-appview
  stop_daemon "$W" hold2 atcr-hold
}
json() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

eval "$(bash "$REPO_ROOT/scripts/node-tools.sh")" || die "scripts/node-tools.sh failed"
e2e_start_stack
AV="http://$REGISTRY"
export OAUTH_ARTIFACTS="$W"
rm -rf "$SCREENSHOTS"

# A second hold (filesystem, public, anyone may join), owned by the demo account.
HOLD2_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
HOLD2_URL="http://localhost:$HOLD2_PORT"
HOLD2_DID="did:web:localhost%3A$HOLD2_PORT"
spawn_daemon "$W" hold2 env HOLD_SERVER_PUBLIC_URL="$HOLD2_URL" HOLD_SERVER_PORT="$HOLD2_PORT" HOLD_SERVER_PUBLIC=true \
  HOLD_SERVER_DATA_DIR="$W/hold2" HOLD_REGISTRATION_OWNER_DID="$DEMO_DID" HOLD_REGISTRATION_ALLOW_ALL_CREW=true \
  HOLD_IDENTITY_PLC_URL="$PLC_URL" HOLD_STORAGE_DRIVER=filesystem "$BUILD/apps/atcr-hold" serve
wait_until 30 "the second hold on $HOLD2_URL" "$W" hold2 curl -sf -o /dev/null --max-time 2 "$HOLD2_URL/xrpc/_health"

REPO="web$RANDOM"
WORD="zebrafinch$RANDOM"
CREDS="$DEMO_HANDLE:$DEMO_PASSWORD"

# --- a push shows on / and on its page within 5 s ----------------------------
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img" --tag v1 --layers 32K --platforms linux/amd64,linux/arm64 >/dev/null
t "skopeo push (multi-arch)" skopeo copy -q --all --dest-tls-verify=false --dest-creds "$CREDS" \
  "oci:$W/img:v1" "docker://$REGISTRY/$DEMO_HANDLE/$REPO:v1"
pushed=$(date +%s%N)
# shows_up [REPO]: on / and with its tag v1 on its page, within 5 s of $pushed.
shows_up() {
  local repo="${1:-$REPO}" deadline=$(($(date +%s%N) + 5000000000))
  while (($(date +%s%N) < deadline)); do
    if curl -sf "$AV/" | grep -q "href=\"/r/$DEMO_HANDLE/$repo\"" &&
      curl -sf "$AV/r/$DEMO_HANDLE/$repo" | grep -q '<b>v1</b>'; then
      echo "visible after $(( ($(date +%s%N) - pushed) / 1000000 )) ms"
      return 0
    fi
    sleep 0.2
  done
  return 1
}
t "on / and on its repository page within 5 s" shows_up

# --- a push this AppView never saw arrives by its firehose consumer ------------
# A second AppView on the same PDS and hold, with its own index and no firehose:
# its push reaches the first AppView only through the PDS's subscribeRepos.
AV2_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
spawn_daemon "$W" appview2 env ATCR_SERVER_PORT="$AV2_PORT" ATCR_SERVER_PUBLIC_URL="http://127.0.0.1:$AV2_PORT" \
  ATCR_SERVER_DATA_DIR="$W/appview2" ATCR_SERVER_DEFAULT_HOLD_DID="$HOLD_DID" ATCR_IDENTITY_PLC_URL="$PLC_URL" \
  ATCR_IDENTITY_HANDLE_RESOLVER="$PDS_URL" ATCR_IDENTITY_DEVELOPMENT=true ATCR_INDEX_PDSES= ATCR_INDEX_BACKFILL=false \
  "$BUILD/apps/atcr-appview" serve
wait_until 30 "the second appview on port $AV2_PORT" "$W" appview2 curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$AV2_PORT/v2/"
FH_REPO="fh$RANDOM"
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img3" --tag v1 --layers 8K >/dev/null
t "skopeo push through a second AppView (an index of its own)" skopeo copy -q --dest-tls-verify=false \
  --dest-creds "$CREDS" "oci:$W/img3:v1" "docker://127.0.0.1:$AV2_PORT/$DEMO_HANDLE/$FH_REPO:v1"
pushed=$(date +%s%N)
t "  on this AppView's / and repository page within 5 s, by the firehose" shows_up "$FH_REPO"
# The lag is the last handled event's age at handling: while the consumer
# replays a long-lived PDS's history from cursor 0 it is large, so poll
# until it has caught up (the 5 s check above already proved the push).
t "  /metrics: the consumer of the PDS is connected, its firehose lag under 5 s" python3 -c '
import re, sys, time, urllib.request
def value(text, name):
    m = re.search("^%s\\{source=\"%s\"\\} (\\S+)$" % (name, re.escape(sys.argv[2])), text, re.M)
    assert m, name; return float(m.group(1))
for attempt in range(60):
    text = urllib.request.urlopen(sys.argv[1] + "/metrics").read().decode()
    lag = value(text, "atcr_index_firehose_lag_seconds")
    print(lag, value(text, "atcr_index_firehose_seq"))
    assert value(text, "atcr_index_firehose_connected") == 1 and value(text, "atcr_index_firehose_seq") > 0
    if -1 < lag < 5: break
    time.sleep(0.5)
else:
    sys.exit("firehose lag stayed at %s s" % lag)' "$AV" "$PDS_URL"

# --- atcr-appview backfill: the PDS's repos into a fresh index, with progress lines ---
t "atcr-appview backfill: progress lines, done, this user's repositories indexed" bash -c "
  env ATCR_SERVER_DATA_DIR='$W/backfill' ATCR_SERVER_DEFAULT_HOLD_DID='$HOLD_DID' ATCR_IDENTITY_PLC_URL='$PLC_URL' \
    ATCR_IDENTITY_HANDLE_RESOLVER='$PDS_URL' ATCR_IDENTITY_DEVELOPMENT=true ATCR_INDEX_PDSES='$PDS_URL' \
    '$BUILD/apps/atcr-appview' backfill >'$W/backfill.out' 2>'$W/backfill.err' &&
  grep -E '^backfill $PDS_URL: [0-9]+ repos listed, [0-9]+ indexed, [0-9]+ skipped, [0-9]+ records \(done\)' '$W/backfill.err' &&
  grep -E '^backfilled [1-9][0-9]* repos, [0-9]+ records; [0-9]+ repositories indexed' '$W/backfill.out' &&
  python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); got = {r[0] for r in db.execute(\"SELECT repository FROM index_repositories WHERE did = ?\", (sys.argv[2],))}; print(got); assert set(sys.argv[3:]) <= got' '$W/backfill/index.sqlite' '$DEMO_DID' '$FH_REPO' '$REPO'"

# --- avatars: an io.atcr.repo.page written straight to the PDS --------------------
# Served from this origin after the checks (the CID's bytes, an image by its
# own bytes): a PNG is shown; an SVG declared image/png is never served.
readarray -t png < <(python3 "$REPO_ROOT/tests/e2e/put-repo-page.py" "$PDS_URL" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$FH_REPO" png)
# fh_page_has TEXT: $FH_REPO's repository page, saved as $W/fh.html, has TEXT.
fh_page_has() { curl -sf "$AV/r/$DEMO_HANDLE/$FH_REPO" -o "$W/fh.html" && grep -q "$1" "$W/fh.html"; }
avatar_shown() {
  eventually 5 fh_page_has "/-/avatar?cid=${png[0]}\"" || return 1
  grep -q "property=\"og:image\" content=\"$AV/r/$DEMO_HANDLE/$FH_REPO/-/avatar?cid=${png[0]}\"" "$W/fh.html" &&
    curl -sf -D "$W/avatar.h" -o "$W/avatar.png" "$AV/r/$DEMO_HANDLE/$FH_REPO/-/avatar?cid=${png[0]}" &&
    cmp "$W/avatar.png" "${png[1]}" && grep -qi '^content-type: image/png' "$W/avatar.h" &&
    grep -qi '^cache-control: public, max-age=31536000, immutable' "$W/avatar.h" &&
    grep -qi '^x-content-type-options: nosniff' "$W/avatar.h" &&
    curl -sf "$AV/" | grep -q "/r/$DEMO_HANDLE/$FH_REPO/-/avatar?cid=${png[0]}"
}
t "avatar: the repository page and / show it within 5 s; served byte for byte as image/png" avatar_shown
readarray -t svg < <(python3 "$REPO_ROOT/tests/e2e/put-repo-page.py" "$PDS_URL" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$FH_REPO" svg)
svg_refused() {
  eventually 5 fh_page_has "/-/avatar?cid=${svg[0]}\"" || return 1
  [ "$(curl -s -o "$W/svg.out" -w '%{http_code} %{redirect_url}' "$AV/r/$DEMO_HANDLE/$FH_REPO/-/avatar?cid=${svg[0]}")" = "303 $AV/favicon.ico" ] &&
    ! grep -q '<svg' "$W/svg.out" &&
    [ "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$AV/r/$DEMO_HANDLE/$FH_REPO/-/avatar?cid=${png[0]}")" = "303 $AV/favicon.ico" ]
}
t "  an SVG declared image/png: never served (the site's icon instead); nor is the old avatar" svg_refused
rm -f "${png[1]:-}" "${svg[1]:-}"
status() { curl -s -o "$W/body" -w '%{http_code}' --max-time 20 "$AV$1"; }
t "unknown user: a 404 page" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$AV/u/nobody-$RANDOM.test')\" = 404 ]"
t "unknown repository: a 404 page" bash -c "[ \"\$(curl -s -o '$W/404' -w '%{http_code}' '$AV/r/$DEMO_HANDLE/nope$RANDOM')\" = 404 ] && grep -q 'id=\"error\"' '$W/404'"
t "repository page: OpenGraph tags, a CSP without inline script" bash -c "
  curl -s -D '$W/headers' -o '$W/repo.html' '$AV/r/$DEMO_HANDLE/$REPO' &&
  grep -q 'property=\"og:title\" content=\"$DEMO_HANDLE/$REPO\"' '$W/repo.html' &&
  grep -qi \"^content-security-policy:.*script-src 'self'\" '$W/headers' && ! grep -qi 'unsafe-inline' '$W/headers'"
css="$(grep -o '/static/[^"]*/atcr.css' "$W/repo.html" 2>/dev/null | head -1)"
t "static assets: versioned path, cached a year" bash -c "curl -s -D - -o /dev/null '$AV$css' | grep -qi 'cache-control: public, max-age=31536000, immutable'"

# --- the owner in the browser ----------------------------------------------------
out="$("$ATCR_NODE" "$REPO_ROOT/tests/e2e/webui-browser.mjs" owner "$AV" "$DEMO_HANDLE" "$DEMO_PASSWORD" \
  "$REPO" "$WORD" "$HOLD2_DID" "$PDS_URL" "$DEMO_DID" 2>>"$LOGF")"
echo "owner browser: $out" >>"$LOGF"
[ -n "$out" ] || out='{}'
o() { json "$1" <<<"$out" 2>/dev/null; }
t "signed in through the PDS's OAuth pages, back on the repository page" \
  bash -c "[ '$(o 'v["whoami"]')' = '$DEMO_HANDLE' ] && [ '$(o 'v["landed"]')' = '/r/$DEMO_HANDLE/$REPO' ]"
t "  tags with their platforms" bash -c "[ '$(o 'v["tags"]')' = 1 ] && grep -q 'linux/amd64, linux/arm64' <<<'$(o 'v["platforms"]')'"
t "  the hold, reachable" bash -c "grep -q 'reachable' <<<'$(o 'v["hold"]')'"
t "star: count 1, the record in the PDS names the repository page" bash -c "
  [ '$(o 'v["starCount"]')' = 1 ] && [ '$(o 'v["starButton"]')' = Unstar ] &&
  [ '$(o 'v["starRecord"]["subject"]')' = 'at://$DEMO_DID/io.atcr.repo.page/$REPO' ]"
t "unstar: count 0, the record gone from the PDS" bash -c "
  [ '$(o 'v["unstarCount"]')' = 0 ] && [ '$(o 'v["unstarButton"]')' = Star ] &&
  [ '$(o 'v["starRecordAfterUnstar"]')' = None ] && [ '$(o 'v["unstarGetRecordStatus"]')' = 400 ]"
t "README from the editor: rendered, no HTML or javascript: links survive" python3 -c '
import json, sys
v = json.loads(sys.argv[1])
print(v.get("readme"), v.get("readmeLinks"))
assert sys.argv[2] in v["readme"] and v["readmeScripts"] == 0 and v["injected"] == 0
assert v["readmeLinks"] == ["https://example.com/docs"]' "$out" "$WORD"
t "search finds it by a word of its README" bash -c "grep -q '/r/$DEMO_HANDLE/$REPO' <<<\"$(o 'v["searchWord"]')\""
t "search finds it by its name" bash -c "grep -q '/r/$DEMO_HANDLE/$REPO' <<<\"$(o 'v["searchName"]')\""
t "home page lists it" bash -c "grep -q '/r/$DEMO_HANDLE/$REPO' <<<\"$(o 'v["home"]')\""
t "settings: default hold and OCI client saved" bash -c "
  [ '$(o 'v["settingsSaved"]')' = True ] && [ '$(o 'v["defaultHold"]')' = '$HOLD2_DID' ] &&
  grep -q '^podman pull ' <<<'$(o 'v["pullAfter"]')'"
t "  the crews and storage used (getQuota) of each hold" python3 -c '
import json, re, sys
v = json.loads(sys.argv[1]); print(v.get("holds"), v.get("storedOnHolds"))
assert v["holds"] == 2 and any(re.fullmatch(r"[0-9.]+ [KMG]?B in [1-9][0-9]* blobs", s) for s in v["storedOnHolds"])' "$out"
t "  the profile record in the PDS says so" bash -c "curl -sf '$PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$DEMO_DID&collection=io.atcr.sailor.profile&rkey=self' |
  python3 -c 'import json,sys; v=json.load(sys.stdin)[\"value\"]; assert v[\"defaultHold\"] == \"$HOLD2_DID\" and v[\"ociClient\"] == \"podman\", v'"
t "user page lists the repository" bash -c "grep -q '/r/$DEMO_HANDLE/$REPO' <<<\"$(o 'v["userRepos"]')\""
no_console_errors() { python3 -c 'import json,sys; e=json.loads(sys.argv[1]).get("consoleErrors"); print(e); assert e == []' "$1"; }
t "no console errors on the owner's pages" no_console_errors "$out"

# --- the next push goes to the new default hold -------------------------------
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img2" --tag v2 --layers 48K >/dev/null
t "skopeo push after the hold change" skopeo copy -q --dest-tls-verify=false --dest-creds "$CREDS" \
  "oci:$W/img2:v2" "docker://$REGISTRY/$DEMO_HANDLE/$REPO:v2"
layer="$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"].split(":")[1]
import os; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"][0]["digest"])' "$W/img2")"
t "  its manifest record names the second hold" bash -c "curl -sf '$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DEMO_DID&collection=io.atcr.manifest&limit=100' |
  python3 -c 'import json,sys
recs=[r[\"value\"] for r in json.load(sys.stdin)[\"records\"] if r[\"value\"][\"repository\"] == \"$REPO\"]
newest=max(recs, key=lambda v: v[\"createdAt\"]); assert newest[\"holdDid\"] == \"$HOLD2_DID\", newest'"
t "  its layer is on the second hold (layer record and bytes)" bash -c "
  curl -sf '$HOLD2_URL/xrpc/com.atproto.repo.listRecords?repo=$HOLD2_DID&collection=io.atcr.hold.layer&limit=100' | grep -q '$layer' &&
  find '$W/hold2/blobs' -type f -path '*${layer#sha256:}*' | grep -q ."
t "  and the repository page shows it" bash -c "curl -sf '$AV/r/$DEMO_HANDLE/$REPO' | grep -q 'localhost%3A$HOLD2_PORT'"

# --- a second account sees the first's repositories ------------------------------
other="w2$(date +%s | tail -c 6)v.test"
other_pw="pw-$RANDOM$RANDOM"
curl -s -X POST -H 'content-type: application/json' "$PDS_URL/xrpc/com.atproto.server.createAccount" \
  --data "{\"handle\":\"$other\",\"password\":\"$other_pw\",\"email\":\"${other%%.*}@example.com\"}" >>"$LOGF"
out="$("$ATCR_NODE" "$REPO_ROOT/tests/e2e/webui-browser.mjs" visitor "$AV" "$other" "$other_pw" "$DEMO_HANDLE" "$REPO" 2>>"$LOGF")"
echo "visitor browser: $out" >>"$LOGF"
[ -n "$out" ] || out='{}'
t "a second account sees the first's repositories" bash -c "[ '$(o 'v["whoami"]')' = '$other' ] && grep -q '/r/$DEMO_HANDLE/$REPO' <<<\"$(o 'v["ownerRepos"]')\""
t "  and its repository page (tags, README; not editable)" bash -c "
  [ '$(o 'v["tags"]')' = 2 ] && grep -q '$WORD' <<<'$(o 'v["readme"]')' && [ '$(o 'v["canEdit"]')' = False ]"
t "  no console errors" no_console_errors "$out"
t "screenshots of every page saved" bash -c "ls '$SCREENSHOTS' && [ \$(ls '$SCREENSHOTS'/*.png | wc -l) -ge 10 ]"

check_summary "webui e2e"
