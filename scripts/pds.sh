#!/usr/bin/env bash
# pds.sh - the reference atproto stack for the integration tests, on loopback:
#   * a did:plc directory: @did-plc/server (in-memory; scripts/pds/plc.cjs)
#   * a PDS: @atproto/pds (SQLite + disk blobs, dev mode, plain HTTP;
#     scripts/pds/pds.mjs), using that directory for its accounts' DIDs
#
#   scripts/pds.sh start   start them (or reuse the pair running), print the env
#   scripts/pds.sh env     print the env of the running pair (fails if none)
#   scripts/pds.sh stop    stop the servers this script started (by pid)
#
# The env printed, one KEY=VALUE per line, for `eval` or `export`:
#   PDS_URL PLC_URL PDS_ADMIN_PASSWORD PDS_DID PDS_HANDLE_DOMAIN PDS_JWT_SECRET
#   PDS_TEST_CA PDS_TEST_CA_KEY PDS_TEST_HTTPS_NAME
# (PDS_JWT_SECRET, this throwaway PDS's token key, lets tests forge expired
# access tokens. PDS_TEST_CA is a CA made at start that the PDS trusts
# (NODE_EXTRA_CA_CERTS), and the PDS resolves PDS_TEST_HTTPS_NAME,
# registry.atcr.dev, to 127.0.0.1: a test serving https under that name
# with a certificate from the CA is reachable from the PDS, e.g. as an OAuth
# client whose metadata the PDS fetches; the PDS refuses client IDs on IPs,
# loopback names and .test.)
# PDS_URL and PLC_URL use the name `localhost`, not 127.0.0.1: the PDS only
# accepts an http:// public URL on host "localhost", and refuses IP hosts
# for its PLC URL. Accounts get did:plc DIDs from this directory and handles
# under PDS_HANDLE_DOMAIN (".test"), resolvable through the PDS's
# com.atproto.identity.resolveHandle and its /.well-known/atproto-did (sent
# with Host: <handle>).
#
# Node 22 and npm come from scripts/node-tools.sh; the npm packages, pinned
# by scripts/pds/package-lock.json, are installed (once; better-sqlite3 is
# compiled from source, a few minutes) into $ATCR_CACHE/pds, never into the
# source tree. A start that is not a reuse wipes the state dir, so it begins
# with no accounts and no DIDs. Concurrent starts are serialised with a lock,
# so parallel tests share one pair. Every wait is bounded.
#
# Env knobs:
#   ATCR_CACHE         install cache               (default $HOME/.cache/atcr)
#   ATCR_PDS_DIR       state and logs              (default /tmp/atcr-pds-<uid>)
#   ATCR_PLC_PORT      PLC port                    (default 2782)
#   ATCR_PDS_PORT      PDS port                    (default 2783)
#   ATCR_PDS_FRESH=1   restart with empty state even if a pair is running
#   PDS_TEST_ACCOUNTS  "alice.test:pw bob.test:pw" accounts to create when
#                      missing (email <name>@example.com)
#   PDS_LOG_ENABLED    PDS request logging to $ATCR_PDS_DIR/log/pds.log
#                      (default true)
set -euo pipefail
LOG_TAG=pds
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ATCR_CACHE="${ATCR_CACHE:-${HOME:-/root}/.cache/atcr}"
DIR="${ATCR_PDS_DIR:-/tmp/atcr-pds-$(id -u)}"
PLC_PORT="${ATCR_PLC_PORT:-2782}"
PDS_PORT="${ATCR_PDS_PORT:-2783}"
SRC="$REPO_ROOT/scripts/pds"
APP="$ATCR_CACHE/pds"
MARKER="$DIR/.atcr-pds"
PLC_URL="http://localhost:$PLC_PORT"
PDS_URL="http://localhost:$PDS_PORT"
HTTPS_NAME=registry.atcr.dev
PLC_WAIT=30   # seconds
PDS_WAIT=120  # migrations + key setup on a busy machine
SERVERS=(pds:pds.mjs plc:plc.cjs)  # name:script, stop order

# ------------------------------------------------------------------ helpers
# alive NAME: the recorded pid runs our node script (pids get reused).
alive() {
  local pidfile="$DIR/run/$1.pid" script pid
  script="$(server_script "$1")"
  [ -s "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$script"
}
server_script() {
  local s
  for s in "${SERVERS[@]}"; do [ "${s%%:*}" = "$1" ] && echo "${s#*:}"; done
}
healthy() {
  curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$PLC_PORT/_health" \
    && curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$PDS_PORT/xrpc/_health"
}
port_taken() { ss -Hltn "sport = :$1" | grep -q .; }

stop_server() {
  local name="$1" pidfile="$DIR/run/$1.pid" pid
  [ -s "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if alive "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

stop_all() {
  local s
  for s in "${SERVERS[@]}"; do stop_server "${s%%:*}"; done
  rm -f "$DIR/env"
}

# fail MESSAGE: show the servers' last log lines, stop what we started, exit.
fail() {
  log "ERROR: $1"
  local f
  for f in "$DIR"/log/*.log; do
    [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 25 "$f" >&2; }
  done
  stop_all
  exit 1
}

# wait_for SECONDS WHAT SERVER CMD...: polls CMD until it succeeds; fails when
# the time is up or SERVER has exited.
wait_for() {
  local seconds="$1" what="$2" server="$3"; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    alive "$server" || fail "$server exited while waiting for $what (log: $DIR/log/$server.log)"
    ((SECONDS < deadline)) || fail "no $what after ${seconds}s (log: $DIR/log/$server.log)"
    sleep 0.2
  done
}

# ------------------------------------------------------------------ install
load_node() {
  bash "$REPO_ROOT/scripts/node-tools.sh" >/dev/null || die "scripts/node-tools.sh failed"
  # shellcheck disable=SC1091
  . "$ATCR_CACHE/node-env.sh"
  NODE="$ATCR_NODE"
  NODE_HOME="$(cd "$(dirname "$NODE")/.." && pwd)"
  read -r -a NPM <<<"$ATCR_NPM"
}

want_stamp() {
  { "$NODE" -v; cat "$SRC/package.json" "$SRC/package-lock.json"; } | sha256sum | cut -d' ' -f1
}
# What running servers must have been started with to be reused: the install,
# the launchers and this script (which holds their configuration).
run_stamp() {
  { echo "$STAMP"; cat "$SRC/plc.cjs" "$SRC/pds.mjs" "${BASH_SOURCE[0]}"; } | sha256sum | cut -d' ' -f1
}

installed_ok() {
  [ -f "$APP/.stamp" ] && [ "$(cat "$APP/.stamp")" = "$STAMP" ] || return 1
  (cd "$APP" && "$NODE" -e '
    const fs = require("fs")
    const deps = JSON.parse(fs.readFileSync("package.json")).dependencies
    for (const [n, v] of Object.entries(deps))
      if (JSON.parse(fs.readFileSync(`node_modules/${n}/package.json`)).version !== v) process.exit(1)
    new (require("better-sqlite3"))(":memory:").close()') >/dev/null 2>&1
}

install_app() {
  STAMP="$(want_stamp)"
  mkdir -p "$ATCR_CACHE"
  exec 8>"$ATCR_CACHE/.pds-install.lock"
  flock -w 1200 8 || die "timed out waiting for another install ($ATCR_CACHE/.pds-install.lock)"
  if ! installed_ok; then
    local t0=$SECONDS tmp="$APP.tmp.$$"
    log "npm ci @atproto/pds + @did-plc/server into $APP (compiles better-sqlite3; a few minutes)"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    cp "$SRC/package.json" "$SRC/package-lock.json" "$tmp/"
    # No prebuilt native binaries can be downloaded here: build better-sqlite3
    # from source against the headers of the node that runs it; install
    # scripts must find that node first on PATH.
    if ! (cd "$tmp" && PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" \
            npm_config_build_from_source=true \
            timeout 1500 "${NPM[@]}" ci --no-audit --no-fund --loglevel=error) >"$tmp/npm-install.log" 2>&1; then
      tail -n 40 "$tmp/npm-install.log" >&2
      die "npm ci failed (log: $tmp/npm-install.log)"
    fi
    # Servers running from the old install are restarted by start().
    rm -rf "$APP"
    mv "$tmp" "$APP"
    echo "$STAMP" >"$APP/.stamp"
    installed_ok || die "the install in $APP does not load (log: $APP/npm-install.log)"
    log "installed in $((SECONDS - t0))s"
  fi
  # The launchers import from $APP/node_modules, so they run from a
  # directory inside $APP; one per version of the launchers, because $APP is
  # shared by every checkout using this cache (a copy straight into $APP
  # could be swapped for another checkout's between copy and start).
  LAUNCH_DIR="$APP/launch-$(cat "$SRC/plc.cjs" "$SRC/pds.mjs" | sha256sum | cut -c1-16)"
  if [ ! -d "$LAUNCH_DIR" ]; then
    local tmp="$LAUNCH_DIR.tmp.$$"
    mkdir -p "$tmp"
    cp "$SRC/plc.cjs" "$SRC/pds.mjs" "$tmp/"
    mv -T "$tmp" "$LAUNCH_DIR" 2>/dev/null || rm -rf "$tmp"
  fi
  exec 8>&-
}

# ------------------------------------------------------------------ start
print_env() {
  cat <<EOF
PDS_URL=$PDS_URL
PLC_URL=$PLC_URL
PDS_ADMIN_PASSWORD=$(sed -n 's/^PDS_ADMIN_PASSWORD=//p' "$DIR/secrets.env")
PDS_DID=did:web:localhost
PDS_HANDLE_DOMAIN=.test
PDS_JWT_SECRET=$(sed -n 's/^PDS_JWT_SECRET=//p' "$DIR/secrets.env")
PDS_TEST_CA=$DIR/tls/ca.pem
PDS_TEST_CA_KEY=$DIR/tls/ca.key
PDS_TEST_HTTPS_NAME=$HTTPS_NAME
EOF
}

spawn() {  # NAME SCRIPT: detached (own session, no inherited stdio or lock fds)
  (cd "$LAUNCH_DIR" && exec setsid "$NODE" "$2" >"$DIR/log/$1.log" 2>&1 </dev/null 8>&- 9>&-) &
  echo $! >"$DIR/run/$1.pid"
}

start_fresh() {
  local p
  for p in "$PLC_PORT" "$PDS_PORT"; do
    port_taken "$p" && die "port $p is taken by another program (set ATCR_PLC_PORT / ATCR_PDS_PORT)"
  done
  # Wipe only a dir that is ours: it has our marker, or is empty.
  if [ -d "$DIR" ] && [ ! -e "$MARKER" ] && [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and not ours; not wiping it (set ATCR_PDS_DIR)"
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"/{run,log,data/blobs,tls}
  run_stamp >"$MARKER"
  (umask 077; "$NODE" -e '
    const r = (n) => require("crypto").randomBytes(n).toString("hex")
    console.log(`PDS_JWT_SECRET=${r(32)}\nPDS_DPOP_SECRET=${r(32)}\nPDS_ADMIN_PASSWORD=${r(16)}`)
    console.log(`PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX=${r(32)}`)' >"$DIR/secrets.env")

  (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
     -subj "/CN=atcr test CA" -keyout "$DIR/tls/ca.key" -out "$DIR/tls/ca.pem" 2>/dev/null) ||
    die "openssl could not make the test CA"

  local t0=$SECONDS
  PLC_PORT="$PLC_PORT" PLC_BIND_HOST=127.0.0.1 LOG_ENABLED=false spawn plc plc.cjs
  wait_for "$PLC_WAIT" "PLC answering on $PLC_URL" plc \
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PLC_PORT/_health"

  (
    set -a
    . "$DIR/secrets.env"
    set +a
    export PDS_HOSTNAME=localhost                # http:// public URL only on "localhost"
    export PDS_PORT PDS_BIND_HOST=127.0.0.1
    export PDS_DEV_MODE=true                     # http URLs, no SSRF guard for loopback
    export PDS_DATA_DIRECTORY="$DIR/data"
    export PDS_BLOBSTORE_DISK_LOCATION="$DIR/data/blobs"
    export PDS_DID_PLC_URL="$PLC_URL"            # a hostname: IP hosts are refused
    export PDS_SERVICE_HANDLE_DOMAINS=.test
    export PDS_INVITE_REQUIRED=false
    export PDS_CRAWLERS= PDS_BSKY_APP_VIEW_URL= PDS_BSKY_APP_VIEW_DID= PDS_EMAIL_SMTP_URL=
    export LOG_ENABLED="${PDS_LOG_ENABLED:-true}" LOG_LEVEL="${LOG_LEVEL:-info}"
    export NODE_EXTRA_CA_CERTS="$DIR/tls/ca.pem" ATCR_PDS_HOSTS="$HTTPS_NAME=127.0.0.1"
    spawn pds pds.mjs
  )
  wait_for "$PDS_WAIT" "PDS answering on $PDS_URL" pds \
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PDS_PORT/xrpc/_health"
  log "PLC on $PLC_URL and PDS on $PDS_URL ready in $((SECONDS - t0))s (state: $DIR)"
}

# create_account HANDLE PASSWORD (skipped when the handle already resolves)
create_account() {
  local handle="$1" password="$2" body out
  if curl -sf -o /dev/null --max-time 10 \
       "http://127.0.0.1:$PDS_PORT/xrpc/com.atproto.identity.resolveHandle?handle=$handle"; then
    log "account $handle exists"
    return 0
  fi
  body="$("$NODE" -e 'const [h, p] = process.argv.slice(1)
    console.log(JSON.stringify({ handle: h, password: p, email: `${h.split(".")[0]}@example.com` }))' \
    "$handle" "$password")"
  out="$(curl -s --max-time 30 -X POST -H 'content-type: application/json' --data-binary "$body" \
    "http://127.0.0.1:$PDS_PORT/xrpc/com.atproto.server.createAccount")" || true
  case "$out" in
    *'"did"'*) log "created $handle ($(grep -o '"did":"[^"]*"' <<<"$out" | cut -d'"' -f4))" ;;
    *) die "createAccount $handle failed: ${out:-no answer}" ;;
  esac
}

start() {
  command -v curl >/dev/null || die "curl is missing (scripts/setup-deps.sh installs it)"
  command -v ss >/dev/null || die "ss is missing (apt-get install iproute2)"
  load_node
  mkdir -p "$(dirname "$DIR")"
  # One start at a time: parallel test programs all call `start`. The first
  # one may spend minutes installing.
  exec 9>"$DIR.lock"
  flock -w 1500 9 || die "timed out waiting for another pds.sh start ($DIR.lock)"
  install_app
  if [ "${ATCR_PDS_FRESH:-0}" != 1 ] && alive plc && alive pds && [ -s "$DIR/env" ] \
     && [ "$(cat "$MARKER" 2>/dev/null)" = "$(run_stamp)" ] && healthy; then
    log "reusing the PDS on $PDS_URL and PLC on $PLC_URL"
  else
    stop_all
    start_fresh
  fi
  print_env >"$DIR/env"
  local acct
  for acct in ${PDS_TEST_ACCOUNTS:-}; do
    [[ "$acct" == *:* ]] || die "PDS_TEST_ACCOUNTS entry '$acct' is not handle:password"
    create_account "${acct%%:*}" "${acct#*:}"
  done
  cat "$DIR/env"
}

case "${1:-}" in
  start) start ;;
  env)
    alive plc && alive pds && [ -s "$DIR/env" ] || die "not running (scripts/pds.sh start)"
    cat "$DIR/env"
    ;;
  stop)
    exec 9>"$DIR.lock"
    flock -w 60 9 || die "timed out waiting for the lock $DIR.lock"
    stop_all
    ;;
  *) die "usage: $0 start|stop|env" ;;
esac
