#!/usr/bin/env bash
# docker_test.sh - docker and podman push and pull through
# docker-credential-atcr, signed in with the device flow, approved in a real
# browser; no password is given to docker, podman or the helper.
#
#   1. the stack (scripts/registry.sh: reference PDS, a hold, the appview
#      offering the helper at /install.sh) and a dockerd of our own
#      (--iptables=false --bridge=none, its own data/exec root and socket);
#   2. curl /install.sh | sh: installs the helper, configure-docker;
#   3. docker-credential-atcr login: the "browser" ($BROWSER) is Playwright
#      driving chromium (tests/e2e/device-browser.mjs): it signs in on the
#      AppView through the PDS's OAuth pages and approves the code;
#   4. docker push, pull; podman push, pull (credHelpers in auth.json);
#      a second account logged in: each push uses the account its image
#      reference names (the helper reads docker's command line); switch;
#   5. the device revoked on /settings/devices: the next push fails and
#      says to run docker-credential-atcr login;
#   6. a code nobody approved expires (expired_token).
# Prints PASS/FAIL per check and exits non-zero if any failed.
#
# Env: ATCR_BUILD (the build dir with apps/), set by meson.
set -uo pipefail
LOG_TAG=e2e-docker
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-docker"
export ATCR_HOLD_STORAGE=filesystem ATCR_HOLD_PUBLIC=true ATCR_HOLD_ALLOW_ALL_CREW=true
export ATCR_DEMO_HANDLE="$(fresh_handle dk)"
# The appview offers the helper built here; codes poll fast and expire soon.
export ATCR_INSTALL_HELPER_BINARY="$ATCR_BUILD/apps/docker-credential-atcr"
export ATCR_AUTH_DEVICE_POLL_INTERVAL=1s ATCR_AUTH_DEVICE_CODE_TTL=20s

e2e_workdir dk dockerd docker podman python3 curl /usr/bin/chromium  # short: dockerd's socket path must fit sun_path
e2e_stop() { stop_daemon "$W" dockerd dockerd; }
eval "$(bash "$REPO_ROOT/scripts/node-tools.sh")" || die "scripts/node-tools.sh failed"
export OAUTH_ARTIFACTS="$W"
e2e_start_stack
H="$REGISTRY"

# --- a dockerd of our own ------------------------------------------------------
mkdir -p "$W/d"
spawn_daemon "$W" dockerd dockerd --iptables=false --bridge=none --storage-driver vfs \
  --data-root "$W/d/data" --exec-root "$W/d/exec" --pidfile "$W/d/pid" -H "unix://$W/d/sock"
export DOCKER_HOST="unix://$W/d/sock"
wait_until 60 "dockerd" "$W" dockerd docker version

# --- the user's environment: nothing configured, no password anywhere ---------
export USER=e2e HOME="$W/home" DOCKER_CONFIG="$W/home/.docker" XDG_CONFIG_HOME="$W/home/.config" XDG_RUNTIME_DIR="$W/xdg"
unset ATCR_CREDENTIALS_FILE REGISTRY_AUTH_FILE
mkdir -p "$HOME" "$XDG_RUNTIME_DIR/containers" "$W/bin"
chmod 700 "$XDG_RUNTIME_DIR"
# Entries of other registries that configure-docker must keep.
printf '{"auths":{"other.example":{"auth":"b3RoZXI6cHc="}},"credHelpers":{"gcr.io":"gcloud"}}\n' \
  >"$XDG_RUNTIME_DIR/containers/auth.json"
export PATH="$W/bin:$PATH"
HELPER="$W/bin/docker-credential-atcr"
DEVICE_NAME="$USER@$(hostname)"  # what the helper calls this machine

same() { [ "$1" = "$2" ] || { echo "mismatch: '$1' != '$2'"; return 1; }; }
has() { grep -q -- "$2" "$1" || { echo "no '$2' in $1:"; cat "$1"; return 1; }; }

t "/install says how"                    bash -c "curl -fsS http://$H/install | grep -qF 'curl -fsSL http://$H/install.sh | sh'"
t "install.sh installs the helper"       bash -c "curl -fsSL http://$H/install.sh | ATCR_INSTALL_DIR=$W/bin sh"
t "  it runs alone (libatcr linked in)"  bash -c "! ldd $HELPER | grep -q libatcr && $HELPER version"
t "  docker's config.json uses it"       has "$DOCKER_CONFIG/config.json" "\"$H\": \"atcr\""
t "  podman's auth.json uses it"         has "$XDG_RUNTIME_DIR/containers/auth.json" "\"$H\": \"atcr\""
t "  podman's other entries are kept"    bash -c "grep -q gcloud $XDG_RUNTIME_DIR/containers/auth.json && grep -q b3RoZXI6cHc= $XDG_RUNTIME_DIR/containers/auth.json"
t "--help exits 0"                       "$HELPER" --help

# --- a code nobody approves: it expires (checked at the end) -------------------
curl -s -X POST -d "device_name=idle&host=nowhere" "http://$H/auth/device/code" >"$W/idle.json"

# --- login: the browser approves -------------------------------------------------
# $BROWSER gets the verification URL; device-browser.mjs signs in there (OAuth
# through the PDS's pages) and approves the device the page names.
# login HANDLE PASSWORD: docker-credential-atcr login, approved in the browser
# by HANDLE (scripts/lib.sh).
login() { device_login "$W" "$HELPER" "$H" "$1" "$2" "$DEVICE_NAME"; }

t "docker-credential-atcr login (device flow)" login "$DEMO_HANDLE" "$DEMO_PASSWORD"
t "  status shows the account, active"   bash -c "$HELPER status | grep -q '\\* $DEMO_HANDLE'"
t "  no password in any file"            bash -c "! grep -rqF -- '$DEMO_PASSWORD' $HOME"

# --- docker --------------------------------------------------------------------------
IMG="$H/$DEMO_HANDLE/hello"
head -c 1M /dev/urandom >"$W/rand.bin"
tar -C "$W" -cf "$W/rootfs.tar" rand.bin
t "docker import (a local image)"        bash -c "docker import $W/rootfs.tar $IMG:1 >/dev/null"
t "docker push"                          docker push "$IMG:1"
t "docker pull (after removing it)"      bash -c "docker rmi $IMG:1 >/dev/null && docker pull $IMG:1"
t "  no credentials in docker's config"  bash -c "! grep -q '\"auth\"' $DOCKER_CONFIG/config.json"

# --- podman (vfs storage, private roots) -----------------------------------------------
P=(podman --root "$W/storage" --runroot "$W/run" --storage-driver vfs)
t "podman push"                          bash -c "${P[*]} import -q $W/rootfs.tar $IMG-podman:1 >/dev/null && ${P[*]} push -q --tls-verify=false $IMG-podman:1"
t "podman pull"                          bash -c "${P[*]} rmi -f $IMG-podman:1 >/dev/null && ${P[*]} pull -q --tls-verify=false $IMG-podman:1"

# --- a second account: the image reference picks the account ---------------------------
other="dk$(date +%s | tail -c 6)other.test"
other_pw="pw-$RANDOM$RANDOM"
curl -s -X POST -H 'content-type: application/json' "$PDS_URL/xrpc/com.atproto.server.createAccount" \
  --data "{\"handle\":\"$other\",\"password\":\"$other_pw\",\"email\":\"${other%%.*}@example.com\"}" >>"$LOGF"
t "login as a second account"            login "$other" "$other_pw"
t "  it is the active one"               bash -c "$HELPER status | tee -a /dev/stderr | grep -q '\* $other' && grep -q '  $DEMO_HANDLE' <($HELPER status)"
t "  docker push to the first's repo uses the first" bash -c "docker tag $IMG:1 $IMG:2 && docker push $IMG:2"
t "  and to the second's, the second"    bash -c "docker tag $IMG:1 $H/$other/hello:1 && docker push $H/$other/hello:1"
t "switch back to the first"             bash -c "$HELPER switch $H && $HELPER status | grep -q '\* $DEMO_HANDLE'"

# --- revoked: the next push fails and says what to run ----------------------------------
# --- the helper's other commands ----------------------------------------------------------
t "store, list, get, erase (the Docker protocol)" bash -c "
  echo '{\"ServerURL\":\"https://other.example/v2/\",\"Username\":\"u.test\",\"Secret\":\"s3\"}' | $HELPER store &&
  $HELPER list | grep -q '\"other.example\":\"u.test\"' &&
  echo other.example | $HELPER get | grep -q '\"Secret\":\"s3\"' &&
  echo other.example | $HELPER erase && ! $HELPER list | grep -q other.example &&
  ! echo other.example | $HELPER get"
t "logout forgets one account" bash -c "$HELPER logout $H $other && ! $HELPER status | grep -q '$other' && $HELPER status | grep -q '\* $DEMO_HANDLE'"

t "revoke the device on /settings/devices (it shows its last use)" bash -c "
  '$ATCR_NODE' '$REPO_ROOT/tests/e2e/device-browser.mjs' revoke 'http://$H' '$DEMO_HANDLE' '$DEMO_PASSWORD' | tee -a /dev/stderr | python3 -c '
import json,sys; r=json.load(sys.stdin)
assert r[\"revoked\"] >= 1 and \"never\" not in r[\"lastUsed\"], r'"
t "  docker push is refused"             bash -c "docker push $IMG:1 >$W/revoked.out 2>&1; rc=\$?; cat $W/revoked.out; [ \$rc -ne 0 ]"
t "    with the registry's own 401: revoked, what to run" bash -c "grep -q 'unauthorized: this device is not signed in' $W/revoked.out && grep -q 'docker-credential-atcr login' $W/revoked.out"
t "  podman push is refused the same way" bash -c "${P[*]} push -q --tls-verify=false $IMG-podman:1 >$W/revoked-podman.out 2>&1; rc=\$?; cat $W/revoked-podman.out; [ \$rc -ne 0 ] && grep -q 'this device is not signed in' $W/revoked-podman.out && grep -q 'docker-credential-atcr login' $W/revoked-podman.out"

# --- forms without a session's CSRF token change nothing -----------------------------------
idle_user_code="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user_code"])' "$W/idle.json")"
code_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
t "POST /device without a session: 403"   same "$(code_of -X POST -d "code=$idle_user_code&decision=approve" "http://$H/device")" 403
t "POST .../revoke without a session: 403" same "$(code_of -X POST -d "id=1" "http://$H/settings/devices/revoke")" 403
t "GET /device signed out: to sign-in"    same "$(code_of "http://$H/device?code=$idle_user_code")" 303

# --- the idle code expired -------------------------------------------------------------------
idle_code="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device_code"])' "$W/idle.json")"
poll_idle() {
  curl -s -X POST --data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:device_code" \
    --data-urlencode "device_code=$idle_code" "http://$H/auth/device/token"
}
until_expired() {
  for _ in $(seq 40); do
    poll_idle | tee "$W/idle-poll.json" | grep -q expired_token && return 0
    sleep 1
  done
  cat "$W/idle-poll.json"
  return 1
}
t "an unapproved code expires"            until_expired

check_summary "e2e docker" "$ATCR_REGISTRY_DIR/log/appview.log"
