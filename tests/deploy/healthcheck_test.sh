#!/usr/bin/env bash
# healthcheck_test.sh - `atcr-hold healthcheck` and `atcr-appview healthcheck`
# (the container images' HEALTHCHECK, which needs no curl): exit 1 while
# nothing answers, 0 once the server on server.host/port answers
# /xrpc/_health, 0 through --url, 1 for a URL that is not a health endpoint,
# 78 for an unknown argument, 1 again after SIGTERM. Config warnings are not
# repeated on every probe. Servers on free loopback ports.
# Env: ATCR_BUILD (the build dir with apps/), set by meson.
set -uo pipefail
LOG_TAG=healthcheck
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_workdir hc
e2e_stop() {
  stop_daemon "$W" hold atcr-hold
  stop_daemon "$W" appview atcr-appview
}
HOLD_PORT="$(free_port)"
APPVIEW_PORT="$(free_port)"
B="$ATCR_BUILD/apps"

export HOLD_SERVER_PUBLIC_URL="http://localhost:$HOLD_PORT" HOLD_SERVER_PORT="$HOLD_PORT" HOLD_SERVER_DATA_DIR="$W/hold"
export HOLD_REGISTRATION_OWNER_DID=did:plc:ewvi7nxzyoun6zhxrhs64oiz HOLD_STORAGE_DRIVER=filesystem
export ATCR_SERVER_PORT="$APPVIEW_PORT" ATCR_SERVER_DATA_DIR="$W/appview"
export ATCR_SERVER_DEFAULT_HOLD_DID="did:web:localhost%3A$HOLD_PORT" ATCR_INDEX_BACKFILL=false
# Warned about at serve; a probe stays quiet.
export HOLD_SERVER_PROT=1

rc() { local want="$1"; shift; "$@"; local got=$?; [ "$got" = "$want" ] || { echo "exit $got, want $want"; return 1; }; }
quiet() { local out; out="$("$@" 2>&1)"; echo "$out"; ! grep -q "unknown environment variable" <<<"$out"; }

for prog in hold appview; do
  port_var="${prog^^}_PORT"
  port="${!port_var}"
  check "atcr-$prog healthcheck: nothing listening -> 1" rc 1 "$B/atcr-$prog" healthcheck
  spawn_daemon "$W" "$prog" "$B/atcr-$prog" serve
  wait_until 30 "atcr-$prog on $port" "$W" "$prog" "$B/atcr-$prog" healthcheck
  check "  serving -> 0" rc 0 "$B/atcr-$prog" healthcheck
  check "  --url -> 0" rc 0 "$B/atcr-$prog" healthcheck --url "http://127.0.0.1:$port/"
  check "  --url of something else -> 1" rc 1 "$B/atcr-$prog" healthcheck --url "http://127.0.0.1:$port/nothing"
  check "  an unknown argument -> 78" rc 78 "$B/atcr-$prog" healthcheck --bogus
  check "  no config warnings on a probe" quiet "$B/atcr-$prog" healthcheck
  stop_daemon "$W" "$prog" "atcr-$prog"
  check "  after SIGTERM -> 1" rc 1 "$B/atcr-$prog" healthcheck
done
check "serve did warn about HOLD_SERVER_PROT" grep -q "HOLD_SERVER_PROT" "$W/log/hold.log"

check_summary healthcheck "$W/log/hold.log" "$W/log/appview.log"
