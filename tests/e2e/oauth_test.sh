#!/usr/bin/env bash
# oauth_test.sh - the AppView's web sign-in with ATProto OAuth, end to end:
# Debian's chromium (headless, playwright-core: tests/e2e/oauth-browser.mjs)
# signs in through the reference PDS's own authorization UI with the
# loopback client, then the test checks what the AppView did with the grant
# in the PDS's own request log: the sailor profile, and a push's records and
# hold service tokens, all sent with "Authorization: DPoP" (the OAuth
# session), not an app-password bearer token. A device of
# docker-credential-atcr approved in the browser pushes and pulls with its
# secret; logging out revokes the grant at the PDS (its tokens are refused
# there) and stops the device.
# Prints PASS/FAIL per check and exits non-zero if any failed.
#
# Env: ATCR_BUILD (the build dir with apps/), set by meson; ATCR_E2E_DIR,
# ATCR_E2E_APPVIEW_PORT, ATCR_E2E_HOLD_PORT as for clients_test.sh.
set -uo pipefail
LOG_TAG=oauth-e2e
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-oauth"
export ATCR_HOLD_STORAGE=filesystem ATCR_HOLD_PUBLIC=true ATCR_HOLD_ALLOW_ALL_CREW=true
export ATCR_DEMO_HANDLE="$(fresh_handle oauth)"
PDS_DIR="${ATCR_PDS_DIR:-/tmp/atcr-pds-$(id -u)}"
PDS_LOG="$PDS_DIR/log/pds.log"

e2e_workdir oauth skopeo python3 curl /usr/bin/chromium
proxy_pid=""
e2e_stop() { [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null; }
eval "$(bash "$REPO_ROOT/scripts/node-tools.sh")" || die "scripts/node-tools.sh failed"
e2e_start_stack
eval "$(bash "$REPO_ROOT/scripts/pds.sh" env)"  # PDS_TEST_CA, PDS_TEST_HTTPS_NAME
AV="http://$REGISTRY"
export OAUTH_ARTIFACTS="$W"

json() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
browser() { "$ATCR_NODE" "$REPO_ROOT/tests/e2e/oauth-browser.mjs" "$AV" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$@"; }
# status URL: the HTTP status of a GET (no redirects followed).
status() { curl -s -o "$W/body" -w '%{http_code}' --max-time 20 "$1"; }
# pds_calls NSID: "<status> <authorization scheme>" of each call the demo
# account's requests to NSID made, from the PDS's request log.
pds_calls() {
  python3 - "$PDS_LOG" "$1" "$DEMO_DID" <<'PY'
import json, sys
log, nsid, did = sys.argv[1:]
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    req = e.get("req") or {}
    if not req.get("url", "").startswith("/xrpc/" + nsid):
        continue
    auth = (req.get("headers") or {}).get("authorization", "")
    if auth.split(" ")[-1] != did:  # the log shows "<scheme> <account DID>"
        continue
    print(e.get("res", {}).get("statusCode"), auth.split(" ")[0])
PY
}
# all_dpop NSID: the account called NSID, always successfully, always with DPoP.
all_dpop() {
  local calls
  calls="$(pds_calls "$1")"
  echo "$1: ${calls:-none}"
  [ -n "$calls" ] && ! grep -qv '^200 DPoP$' <<<"$calls"
}
profile_exists() {
  curl -sf --max-time 10 "$PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$DEMO_DID&collection=io.atcr.sailor.profile&rkey=self" |
    grep -q "\"defaultHold\":\"$HOLD_DID\""
}

# --- metadata ---------------------------------------------------------------
t "client metadata (loopback)" bash -c "curl -sf '$AV/client-metadata.json' | python3 -c '
import json,sys; m=json.load(sys.stdin)
assert m[\"client_id\"].startswith(\"http://localhost?redirect_uri=\"), m
assert m[\"redirect_uris\"] == [\"http://127.0.0.1:$ATCR_APPVIEW_PORT/auth/oauth/callback\"], m
assert m[\"dpop_bound_access_tokens\"] is True and m[\"token_endpoint_auth_method\"] == \"none\", m'"

# --- the sign-in ------------------------------------------------------------
t "no profile before sign-in" bash -c "$(declare -f profile_exists); PDS_URL=$PDS_URL DEMO_DID=$DEMO_DID HOLD_DID='$HOLD_DID'; ! profile_exists"
start=$(date +%s%N)
out="$(browser 2>>"$LOGF")"
echo "browser: $out ($(( ($(date +%s%N) - start) / 1000000 )) ms)" >>"$LOGF"
t "browser sign-in lands signed in" [ "$(json 'v["whoami"]' <<<"$out")" = "$DEMO_HANDLE" ]
t "profile created through the OAuth session" bash -c "$(declare -f profile_exists); PDS_URL=$PDS_URL DEMO_DID=$DEMO_DID HOLD_DID='$HOLD_DID' profile_exists"
t "profile write was DPoP-authorized" all_dpop com.atproto.repo.putRecord
callback="$(json 'v["callback"]' <<<"$out")"
t "replayed callback refused" bash -c "[ \"\$(curl -s -o '$W/replay' -w '%{http_code}' '$callback')\" = 400 ] && grep -q 'already used' '$W/replay'"
t "wrong state refused" bash -c "[ \"\$(curl -s -o '$W/state' -w '%{http_code}' '${callback/state=/state=x}')\" = 400 ]"
t "hostile handle: a 400 page, escaped" bash -c "[ \"\$(curl -s -o '$W/hostile' -w '%{http_code}' '$AV/auth/oauth/authorize?handle=%3Cscript%3Ex%3C/script%3E')\" = 400 ] &&
  grep -q 'id=\"error\">.*&lt;script&gt;' '$W/hostile' && ! grep -q '<script>x' '$W/hostile'"
t "unknown account: a 400 page" bash -c "[ \"\$(curl -s -o '$W/unknown' -w '%{http_code}' '$AV/auth/oauth/authorize?handle=nobody-$RANDOM.test')\" = 400 ]"
t "logout without CSRF token refused" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -d csrf=forged '$AV/auth/logout')\" = 403 ]"
out="$(browser --deny 2>>"$LOGF")"
echo "browser --deny: $out" >>"$LOGF"
t "denied consent is an error page" bash -c "grep -q access_denied <<<'$out'"

# --- a push through the OAuth session ---------------------------------------
# The registry token comes from an app-password login, but the AppView
# writes with the user's OAuth session when there is one.
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img" --tag v1 --layers 64K >/dev/null
t "skopeo push" skopeo copy -q --dest-tls-verify=false --dest-creds "$DEMO_HANDLE:$DEMO_PASSWORD" \
  "oci:$W/img:v1" "docker://$REGISTRY/$DEMO_HANDLE/oauth:v1"
t "manifest records written with DPoP" all_dpop com.atproto.repo.applyWrites
t "hold service tokens minted with DPoP" all_dpop com.atproto.server.getServiceAuth
t "skopeo pull" skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/$DEMO_HANDLE/oauth:v1" "oci:$W/pulled:v1"

# --- DPoP proofs the PDS must refuse ------------------------------------------
# The AppView's stored session (access token, DPoP key), sent to the PDS by
# oauth_dpop_probe with a right proof, then with one flaw each.
PROBE="${OAUTH_DPOP_PROBE:-$ATCR_BUILD/tests/e2e/oauth_dpop_probe}"
read -r AT KEY < <(python3 -c 'import sqlite3,sys
print(*sqlite3.connect(sys.argv[1]).execute("SELECT access_token, dpop_key FROM oauth_sessions WHERE did = ?", (sys.argv[2],)).fetchone())' \
  "$ATCR_REGISTRY_DIR/appview/appview.sqlite" "$DEMO_DID")
t "stored session: a right DPoP proof is accepted" bash -c "[ \"\$($(printf '%q ' "$PROBE" "$PDS_URL" "$AT" "$KEY") ok)\" = ok ]"
for flaw in htu htm iat ath; do
  t "DPoP proof with a wrong $flaw refused (401 invalid_dpop_proof)" bash -c \
    "$(printf '%q ' "$PROBE" "$PDS_URL" "$AT" "$KEY") $flaw | tee -a /dev/stderr | grep -q '^401 invalid_dpop_proof: .*$flaw'"
done

# --- a device approved in the browser: its secret pushes and pulls -----------
# docker-credential-atcr login, approved by the account in chromium (which
# signs in with OAuth on the way); the secret docker would get works at
# /auth/token (auth_method oauth) and for skopeo, while the sign-in stands.
export USER=e2e XDG_CONFIG_HOME="$W/config"
unset ATCR_CREDENTIALS_FILE
HELPER="$ATCR_BUILD/apps/docker-credential-atcr"
t "docker-credential-atcr login, approved in the browser" \
  device_login "$W" "$HELPER" "$REGISTRY" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$USER@$(hostname)"
SECRET="$(echo "$REGISTRY" | "$HELPER" get | python3 -c 'import json,sys; print(json.load(sys.stdin)["Secret"])')"
t "  get hands docker the device secret" bash -c "[[ '$SECRET' == atcr_device_* ]]"
# token_claims USER: the claims of the registry token the device secret gets.
token_claims() {
  curl -sf -u "$1:$SECRET" "$AV/auth/token?scope=repository:$DEMO_HANDLE/device:pull,push" |
    python3 -c 'import base64,json,sys; t=json.load(sys.stdin)["token"].split(".")[1]; print(json.dumps(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))))'
}
for user in "$DEMO_HANDLE" "$DEMO_DID"; do
  t "  /auth/token as $user: auth_method oauth, push granted" bash -c "$(declare -f token_claims)
    AV=$AV SECRET=$SECRET DEMO_HANDLE=$DEMO_HANDLE; token_claims $user | python3 -c '
import json,sys; c=json.load(sys.stdin)
assert c[\"auth_method\"] == \"oauth\" and c[\"sub\"] == \"$DEMO_DID\", c
assert \"push\" in c[\"access\"][0][\"actions\"], c'"
done
t "  skopeo push with the device secret" skopeo copy -q --dest-tls-verify=false --dest-creds "$DEMO_HANDLE:$SECRET" \
  "oci:$W/img:v1" "docker://$REGISTRY/$DEMO_HANDLE/device:v1"
t "  skopeo pull with it" skopeo copy -q --src-tls-verify=false --src-creds "$DEMO_HANDLE:$SECRET" \
  "docker://$REGISTRY/$DEMO_HANDLE/device:v1" "oci:$W/device-pulled:v1"

# --- logout revokes the grant at the PDS (RFC 7009), and the devices stop --------
# The browser signs in (a new grant, replacing the device approval's) and logs
# out; just before, the grant's tokens and DPoP key are copied from the
# AppView's table so the test can try them at the PDS afterwards.
APPVIEW_DB="$ATCR_REGISTRY_DIR/appview/appview.sqlite"
grant_row() {
  python3 -c 'import sqlite3,sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT access_token, refresh_token, dpop_key, token_endpoint FROM oauth_sessions WHERE did = ?", (sys.argv[2],)).fetchone()
print(*(r or []))' "$APPVIEW_DB" "$DEMO_DID"
}
CLIENT_ID="$(curl -sf "$AV/client-metadata.json" | json 'v["client_id"]')"
export BEFORE_LOGOUT="$(declare -f grant_row); APPVIEW_DB='$APPVIEW_DB' DEMO_DID='$DEMO_DID'; grant_row >'$W/grant'"
out="$(browser --logout 2>>"$LOGF")"
unset BEFORE_LOGOUT
echo "browser --logout: $out" >>"$LOGF"
t "log out (a CSRF-checked form) signs the browser out" [ "$(json 'v["loggedOut"]' <<<"$out")" = True ]
read -r G_AT G_RT G_KEY G_TOKEN_EP <"$W/grant" || true
t "  the AppView forgot the grant" [ -z "$(grant_row)" ]
t "  its refresh token is refused at the PDS (invalid_grant)" bash -c \
  "$(printf '%q ' "$PROBE" refresh "$G_TOKEN_EP" "$CLIENT_ID" "$G_RT" "$G_KEY") | tee -a /dev/stderr | grep -q '^400 invalid_grant: '"
t "  its access token too (401)" bash -c \
  "$(printf '%q ' "$PROBE" "$PDS_URL" "$G_AT" "$G_KEY") ok | tee -a /dev/stderr | grep -q '^401 '"
t "  no grant of this AppView is left at the PDS (each sign-in revoked the one it replaced)" \
  python3 - "$PDS_DIR/data/account.sqlite" "$CLIENT_ID" "$DEMO_DID" <<'PY'
import sqlite3, sys
db, client_id, did = sys.argv[1:]
n = sqlite3.connect(db).execute("SELECT count(*) FROM token WHERE clientId = ? AND did = ?", (client_id, did)).fetchone()[0]
print("grants left:", n)
assert n == 0
PY
device_refused() {
  curl -s -o "$W/refused.json" -w '%{http_code}' -u "$DEMO_HANDLE:$SECRET" "$AV/auth/token?scope=repository:$DEMO_HANDLE/device:pull,push" |
    grep -q '^401$' && python3 -c 'import json,sys
e = json.load(open(sys.argv[1]))["errors"][0]; print(e)
assert e["code"] == "UNAUTHORIZED" and "docker-credential-atcr login" in e["message"] and "OAuth" in e["message"]' "$W/refused.json"
}
t "  the device secret is refused at /auth/token: 401, what to run" device_refused
t "  skopeo with it is refused with that message" bash -c "! skopeo copy -q --src-tls-verify=false \
  --src-creds '$DEMO_HANDLE:$SECRET' 'docker://$REGISTRY/$DEMO_HANDLE/device:v1' 'oci:$W/refused:v1' 2>'$W/skopeo-refused' &&
  cat '$W/skopeo-refused' && grep -q 'docker-credential-atcr login' '$W/skopeo-refused'"

# --- the confidential client -------------------------------------------------
# The AppView on https://registry.atcr.dev:<port> behind a TLS proxy, with a
# certificate from the CA the PDS trusts (scripts/pds.sh: PDS_TEST_CA; the
# PDS maps that name to 127.0.0.1, chromium does with --host-resolver-rules),
# so it is a confidential client: client_id <public_url>/client-metadata.json,
# private_key_jwt with the key it made on first start.
bash "$REPO_ROOT/scripts/registry.sh" stop >/dev/null 2>&1
NAME="$PDS_TEST_HTTPS_NAME"
TLS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$NAME" \
  -keyout "$W/tls.key" -out "$W/tls.csr" 2>>"$LOGF"
openssl x509 -req -in "$W/tls.csr" -CA "$PDS_TEST_CA" -CAkey "$PDS_TEST_CA_KEY" -CAcreateserial \
  -CAserial "$W/ca.srl" -days 2 -out "$W/tls.pem" \
  -extfile <(printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$NAME") 2>>"$LOGF"
export ATCR_REGISTRY_PUBLIC_URL="https://$NAME:$TLS_PORT" ATCR_REGISTRY_DIR="$ATCR_REGISTRY_DIR-https"
export ATCR_DEMO_HANDLE="$(fresh_handle conf)"
if env_lines="$(bash "$REPO_ROOT/scripts/registry.sh" start 2>>"$LOGF")"; then
  eval "$env_lines"
  "$ATCR_NODE" "$REPO_ROOT/tests/e2e/tls-proxy.mjs" "$TLS_PORT" "$W/tls.pem" "$W/tls.key" "http://$REGISTRY" \
    >>"$LOGF" 2>&1 &
  proxy_pid=$!
  AV="https://$NAME:$TLS_PORT"
  CURL_TLS=(--cacert "$PDS_TEST_CA" --resolve "$NAME:$TLS_PORT:127.0.0.1")
  for _ in $(seq 50); do curl -s -o /dev/null "${CURL_TLS[@]}" "$AV/login" && break; sleep 0.1; done
  export CHROMIUM_ARG="--host-resolver-rules=MAP $NAME 127.0.0.1" IGNORE_TLS=1
  t "client metadata (confidential)" bash -c "curl -sf $(printf '%q ' "${CURL_TLS[@]}") '$AV/client-metadata.json' |
    python3 -c '
import json,sys; m=json.load(sys.stdin)
assert m[\"client_id\"] == \"$AV/client-metadata.json\", m
assert m[\"token_endpoint_auth_method\"] == \"private_key_jwt\" and len(m[\"jwks\"][\"keys\"]) == 1, m'"
  t "client key kept private (0600)" [ "$(stat -c %a "$ATCR_REGISTRY_DIR/appview/oauth-client.key")" = 600 ]
  out="$(browser 2>>"$LOGF")"
  echo "browser (confidential): $out" >>"$LOGF"
  t "confidential sign-in lands signed in" [ "$(json 'v["whoami"]' <<<"$out" 2>/dev/null)" = "$DEMO_HANDLE" ]
  t "confidential: profile written with DPoP" all_dpop com.atproto.repo.putRecord
  # The PDS's own record of the grant: how the client authenticated.
  t "confidential: the PDS authenticated us with private_key_jwt" python3 - "$PDS_DIR/data/account.sqlite" "$AV/client-metadata.json" <<'PY'
import json, sqlite3, sys
db, client_id = sys.argv[1:]
rows = sqlite3.connect(db).execute("SELECT clientAuth FROM token WHERE clientId = ?", (client_id,)).fetchall()
print(rows)
assert rows and all(json.loads(r[0])["method"] == "private_key_jwt" for r in rows)
PY
else
  t "confidential stack started" false
fi

check_summary "oauth e2e"
