#!/usr/bin/env bash
# registry.sh - a complete local atcr registry on loopback:
#   * the reference PDS + PLC directory (scripts/pds.sh), with a demo account
#   * a hold (build/apps/atcr-hold) storing blobs on the filesystem, or on
#     radosgw with ATCR_HOLD_STORAGE=s3 (scripts/s3.sh)
#   * the appview (build/apps/atcr-appview): the OCI registry clients talk to
#
#   scripts/registry.sh start   start everything (reusing what runs), print the env
#   scripts/registry.sh env     print the env of the running stack
#   scripts/registry.sh stop    stop the hold and the appview (the PDS: scripts/pds.sh stop)
#
# The env printed, one KEY=VALUE per line:
#   REGISTRY (host:port for clients) DEMO_HANDLE DEMO_PASSWORD DEMO_DID HOLD_DID
#   HOLD_URL PDS_URL PLC_URL
#
# Env knobs:
#   ATCR_BUILD          the build dir with apps/   (default build)
#   ATCR_REGISTRY_DIR   state and logs             (default /tmp/atcr-registry-<uid>)
#   ATCR_APPVIEW_PORT   the registry's port        (default 5000)
#   ATCR_HOLD_PORT      the hold's port            (default 8080)
#   ATCR_HOLD_STORAGE   filesystem | s3            (default filesystem)
#   ATCR_HOLD_PUBLIC    true | false               (default true: anonymous pulls)
#   ATCR_HOLD_ALLOW_ALL_CREW true | false          (default true: any user may push)
#   ATCR_REGISTRY_PUBLIC_URL the appview's public_url (default http://$REGISTRY; an
#                       https one behind a TLS proxy makes it a confidential OAuth client)
#   ATCR_INDEX_PDSES    firehoses the network index follows (default: the PDS and the hold)
#   ATCR_DEMO_HANDLE    the demo account           (default sailor.test with the default hold
#                       port, else sailor-<hold port>.test; "demo" is a reserved handle)
# Each stack has its own demo account by default: the account's
# io.atcr.sailor.profile names the hold it pushes to, and the PDS is shared by
# every stack on the machine, so a shared account would push to the first
# stack's hold. If the account's profile names another hold (a shared
# ATCR_DEMO_HANDLE), start says so: pushes go to that hold.
set -euo pipefail
LOG_TAG=registry
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD="${ATCR_BUILD:-$REPO_ROOT/build}"
DIR="${ATCR_REGISTRY_DIR:-/tmp/atcr-registry-$(id -u)}"
APPVIEW_PORT="${ATCR_APPVIEW_PORT:-5000}"
HOLD_PORT="${ATCR_HOLD_PORT:-8080}"
STORAGE="${ATCR_HOLD_STORAGE:-filesystem}"
HOLD_PUBLIC="${ATCR_HOLD_PUBLIC:-true}"
ALLOW_ALL_CREW="${ATCR_HOLD_ALLOW_ALL_CREW:-true}"
if [ "$HOLD_PORT" = 8080 ]; then DEMO_HANDLE="${ATCR_DEMO_HANDLE:-sailor.test}"
else DEMO_HANDLE="${ATCR_DEMO_HANDLE:-sailor-$HOLD_PORT.test}"; fi
# localhost, not 127.0.0.1: the reference PDS refuses service tokens for an
# IP-address did:web, and did:web:localhost is the development exception.
HOLD_URL="http://localhost:$HOLD_PORT"
HOLD_DID="did:web:localhost%3A$HOLD_PORT"
REGISTRY="127.0.0.1:$APPVIEW_PORT"
PUBLIC_URL="${ATCR_REGISTRY_PUBLIC_URL:-http://$REGISTRY}"

healthy() { curl -sf -o /dev/null --max-time 2 "$1"; }
# Any HTTP answer (the registry's /v2/ is 401 until a client logs in).
answering() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" != 000 ]; }

# The demo account's password: made once per handle and kept outside the
# state dir, since the account outlives it (it lives in the PDS, which
# other stacks on this machine share).
demo_password() {
  local file="${ATCR_CACHE:-${HOME:-/root}/.cache/atcr}/demo-passwords/$DEMO_HANDLE"
  mkdir -p "$(dirname "$file")"
  [ -s "$file" ] || (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
  cat "$file"
}

start_pds() {
  local out
  out="$(PDS_TEST_ACCOUNTS="$DEMO_HANDLE:$(demo_password)" bash "$REPO_ROOT/scripts/pds.sh" start)" ||
    die "scripts/pds.sh start failed (above)"
  PDS_URL="$(sed -n 's/^PDS_URL=//p' <<<"$out")"
  PLC_URL="$(sed -n 's/^PLC_URL=//p' <<<"$out")"
  DEMO_DID="$(curl -sf --max-time 10 "$PDS_URL/xrpc/com.atproto.identity.resolveHandle?handle=$DEMO_HANDLE" |
    sed -n 's/.*"did":"\([^"]*\)".*/\1/p')"
  [ -n "$DEMO_DID" ] || die "cannot resolve $DEMO_HANDLE on $PDS_URL"
}

start_hold() {
  if daemon_alive "$DIR" hold atcr-hold && healthy "$HOLD_URL/xrpc/_health"; then
    log "reusing the hold on $HOLD_URL"
    return
  fi
  port_taken "$HOLD_PORT" && die "port $HOLD_PORT is taken (set ATCR_HOLD_PORT)"
  local -a env=(
    HOLD_SERVER_PUBLIC_URL="$HOLD_URL" HOLD_SERVER_PORT="$HOLD_PORT" HOLD_SERVER_PUBLIC="$HOLD_PUBLIC"
    HOLD_SERVER_DATA_DIR="$DIR/hold" HOLD_REGISTRATION_OWNER_DID="$DEMO_DID"
    HOLD_REGISTRATION_ALLOW_ALL_CREW="$ALLOW_ALL_CREW" HOLD_IDENTITY_PLC_URL="$PLC_URL"
    # Its users' PDS is on loopback: GC and deleteBlob read their images.
    HOLD_IDENTITY_DEVELOPMENT=true
  )
  if [ "$STORAGE" = s3 ]; then
    local s3env
    s3env="$(bash "$REPO_ROOT/scripts/s3.sh" start)" || die "scripts/s3.sh start failed (above)"
    env+=(HOLD_STORAGE_DRIVER=s3
      S3_ENDPOINT="$(sed -n 's/^S3_ENDPOINT=//p' <<<"$s3env")"
      S3_BUCKET="$(sed -n 's/^S3_BUCKET=//p' <<<"$s3env")"
      AWS_REGION="$(sed -n 's/^S3_REGION=//p' <<<"$s3env")"
      AWS_ACCESS_KEY_ID="$(sed -n 's/^S3_ACCESS_KEY=//p' <<<"$s3env")"
      AWS_SECRET_ACCESS_KEY="$(sed -n 's/^S3_SECRET_KEY=//p' <<<"$s3env")")
  else
    env+=(HOLD_STORAGE_DRIVER=filesystem)
  fi
  spawn_daemon "$DIR" hold env "${env[@]}" "$BUILD/apps/atcr-hold" serve
  wait_until 30 "the hold on $HOLD_URL" "$DIR" hold healthy "$HOLD_URL/xrpc/_health"
}

start_appview() {
  if daemon_alive "$DIR" appview atcr-appview && answering "http://$REGISTRY/v2/"; then
    log "reusing the appview on $REGISTRY"
    return
  fi
  port_taken "$APPVIEW_PORT" && die "port $APPVIEW_PORT is taken (set ATCR_APPVIEW_PORT)"
  # The hold's presigned part URLs name radosgw on loopback: an origin the
  # AppView is told to trust (any other must be https on a public address).
  local storage_origins=""
  if [ "$STORAGE" = s3 ]; then
    storage_origins="$(bash "$REPO_ROOT/scripts/s3.sh" start | sed -n 's/^S3_ENDPOINT=//p')" ||
      die "scripts/s3.sh start failed (above)"
  fi
  spawn_daemon "$DIR" appview env \
    ATCR_UPLOADS_STORAGE_ORIGINS="$storage_origins" ATCR_SERVER_PORT="$APPVIEW_PORT" ATCR_SERVER_PUBLIC_URL="$PUBLIC_URL" \
    ATCR_SERVER_DATA_DIR="$DIR/appview" ATCR_SERVER_DEFAULT_HOLD_DID="$HOLD_DID" \
    ATCR_IDENTITY_PLC_URL="$PLC_URL" ATCR_IDENTITY_HANDLE_RESOLVER="$PDS_URL" ATCR_IDENTITY_DEVELOPMENT=true \
    ATCR_INDEX_PDSES="${ATCR_INDEX_PDSES:-$PDS_URL,$HOLD_URL}" \
    "$BUILD/apps/atcr-appview" serve
  wait_until 30 "the appview on $REGISTRY" "$DIR" appview answering "http://$REGISTRY/v2/"
}

# Warns when the demo account's profile (written at its first login) names
# a hold other than this stack's: that is where its pushes go.
check_profile_hold() {
  local named
  named="$(curl -s --max-time 10 "$PDS_URL/xrpc/com.atproto.repo.getRecord?repo=$DEMO_DID&collection=io.atcr.sailor.profile&rkey=self" |
    sed -n 's/.*"defaultHold":"\([^"]*\)".*/\1/p')"
  if [ -n "$named" ] && [ "$named" != "$HOLD_DID" ] && [ "$named" != "$HOLD_URL" ]; then
    log "WARNING: $DEMO_HANDLE's io.atcr.sailor.profile names hold $named, not this stack's $HOLD_DID:"
    log "         its pushes go to $named (use another ATCR_DEMO_HANDLE for a stack of its own)"
  else
    log "hold in use: $HOLD_DID ($HOLD_URL)"
  fi
}

print_env() {
  cat <<EOF
REGISTRY=$REGISTRY
DEMO_HANDLE=$DEMO_HANDLE
DEMO_PASSWORD=$(demo_password)
DEMO_DID=$DEMO_DID
HOLD_DID=$HOLD_DID
HOLD_URL=$HOLD_URL
PDS_URL=$PDS_URL
PLC_URL=$PLC_URL
EOF
}

start() {
  # Only a check: tests run this script, and tests never install anything.
  bash "$REPO_ROOT/scripts/setup-deps.sh" --check
  for app in atcr-hold atcr-appview; do
    [ -x "$BUILD/apps/$app" ] || die "$BUILD/apps/$app is not built (meson compile -C $BUILD)"
  done
  mkdir -p "$DIR"/{run,log}
  exec 9>"$DIR.lock"
  flock -w 600 9 || die "timed out waiting for another registry.sh start ($DIR.lock)"
  start_pds
  start_hold
  start_appview
  check_profile_hold
  print_env | tee "$DIR/env"
}

case "${1:-}" in
  start) start ;;
  env)
    [ -s "$DIR/env" ] && daemon_alive "$DIR" appview atcr-appview || die "not running (scripts/registry.sh start)"
    cat "$DIR/env"
    ;;
  stop)
    stop_daemon "$DIR" appview atcr-appview
    stop_daemon "$DIR" hold atcr-hold
    rm -f "$DIR/env"
    ;;
  *)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
