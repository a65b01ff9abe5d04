# scripts/lib.sh - helpers sourced by scripts/*.sh and bench/run.sh.
# Set LOG_TAG before sourcing; defines REPO_ROOT, log, die, meson_setup.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "[${LOG_TAG:-atcr}] $*" >&2; }
die() { echo "[${LOG_TAG:-atcr}] ERROR: $*" >&2; exit 1; }

# meson_setup DIR [meson options...]: configure DIR, or reconfigure it with the
# given options when it already is a meson build dir; a dir that is not one,
# or that was made by another meson version, is wiped and set up anew.
meson_setup() {
  local dir="$1"; shift
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    local out
    if out="$(meson setup --reconfigure "$dir" "$@" 2>&1)"; then
      log "reconfigured $dir${*:+ ($*)}"
      return 0
    fi
    printf '%s\n' "$out" | tail -20 >&2
    # A build dir from another meson version must be wiped; anything else
    # (an error in a meson.build) is reported as is, keeping the build dir.
    grep -qiE 'wipe|version' <<<"$out" || die "meson setup --reconfigure $dir failed"
    log "reconfigure of $dir failed (above); wiping it"
  fi
  rm -rf "$dir"
  log "meson setup $dir $*"
  meson setup "$dir" "$@" >&2 || die "meson setup $dir failed"
}

# ---- daemons: programs started in the background with a pid file and a log
# under DIR (DIR/run/NAME.pid, DIR/log/NAME.log). MATCH is a string of the
# program's command line: a recorded pid only counts while it runs MATCH
# (pids get reused).

port_taken() { ss -Hltn "sport = :$1" | grep -q .; }
# A loopback port the kernel says is free now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# spawn_daemon DIR NAME CMD...: detached (own session, no inherited stdio).
spawn_daemon() {
  local dir="$1" name="$2"; shift 2
  mkdir -p "$dir/run" "$dir/log"
  (exec setsid "$@" >"$dir/log/$name.log" 2>&1 </dev/null 8>&- 9>&-) &
  echo $! >"$dir/run/$name.pid"
}

# daemon_alive DIR NAME MATCH
daemon_alive() {
  local pidfile="$1/run/$2.pid" pid
  [ -s "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$3"
}

# stop_daemon DIR NAME MATCH: SIGTERM, then SIGKILL after 10 s.
stop_daemon() {
  local dir="$1" name="$2" pidfile="$1/run/$2.pid" pid
  [ -s "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if daemon_alive "$dir" "$name" "$3"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# wait_until SECONDS WHAT DIR NAME CMD...: polls CMD until it succeeds;
# dies (showing the daemon's log) when time is up or the daemon exited.
wait_until() {
  local seconds="$1" what="$2" dir="$3" name="$4"; shift 4
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    # Liveness by pid, not daemon_alive's command-line match: right after
    # spawn_daemon the pid may still be the forked shell, not yet exec'd.
    if ! kill -0 "$(cat "$dir/run/$name.pid" 2>/dev/null || echo 0)" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "--- tail $dir/log/$name.log" >&2
      tail -n 30 "$dir/log/$name.log" >&2 || true
      die "no $what after $((seconds - (deadline - SECONDS)))s ($name exited or timed out)"
    fi
    sleep 0.2
  done
}

# eventually SECONDS CMD...: polls CMD (its output discarded) every 0.2 s
# until it succeeds; returns 1 when SECONDS pass first. For what shows up
# after a while (an index fed by a firehose), not for a daemon's start
# (wait_until, which also watches the daemon).
eventually() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# check NAME CMD...: runs one end-to-end check, its output appended to
# $LOGF, printing "PASS  NAME" or "FAIL  NAME" and counting into $pass and
# $fail (set both to 0 first).
check() {
  local name="$1"
  shift
  echo "### $name: $*" >>"$LOGF"
  if "$@" >>"$LOGF" 2>&1; then
    printf 'PASS  %s\n' "$name"
    pass=$((pass + 1))
  else
    printf 'FAIL  %s\n' "$name"
    fail=$((fail + 1))
  fi
}

# t: check, as the tests spell it.
t() { check "$@"; }

# check_summary WHAT [FILE...]: prints "WHAT: N passed, M failed"; when a
# check failed, the tail of $LOGF and of each FILE (daemon logs) too.
# Returns non-zero when a check failed: a test's last line.
check_summary() {
  local what="$1" f
  shift
  echo "$what: $pass passed, $fail failed"
  ((fail == 0)) && return 0
  echo "--- $LOGF (tail)"
  tail -n 80 "$LOGF"
  for f in "$@"; do
    echo "--- $f (tail)"
    tail -n 40 "$f" 2>/dev/null
  done
  return 1
}

# ---- the frame of a test script: a fresh work dir W (/tmp/atcr-NAME.XXXXXX),
# its check log LOGF (W/NAME.log), pass=0 and fail=0, the TOOLs it needs
# (dies naming a missing one), and an EXIT trap (e2e_cleanup).
#   e2e_workdir NAME [TOOL...]
e2e_workdir() {
  local name="$1" tool
  shift
  W="$(mktemp -d "/tmp/atcr-$name.XXXXXX")" || die "no work dir under /tmp"
  LOGF="$W/$name.log"
  pass=0 fail=0
  trap e2e_cleanup EXIT
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup-deps.sh installs it)"
  done
}

# On exit: the test's own e2e_stop (when it defines one: the daemons it
# started itself), the stack when e2e_start_stack started one, then W,
# which is kept (and named) when a check failed or KEEP is set.
e2e_cleanup() {
  declare -F e2e_stop >/dev/null && e2e_stop
  [ -n "${E2E_STACK:-}" ] && { bash "$REPO_ROOT/scripts/registry.sh" stop >/dev/null 2>&1 || true; }
  if [ "${fail:-0}" = 0 ] && [ -z "${KEEP:-}" ]; then
    rm -rf "$W" 2>/dev/null || true
  else
    echo "[${LOG_TAG:-atcr}] logs kept in $W" >&2
  fi
}

# e2e_start_stack [--fresh]: the stack (scripts/registry.sh) from a clean
# stop (--fresh: its state dir ATCR_REGISTRY_DIR emptied too), its
# variables (REGISTRY, DEMO_HANDLE, DEMO_PASSWORD, PDS_URL, ...) set here.
e2e_start_stack() {
  local env_lines
  E2E_STACK=1
  bash "$REPO_ROOT/scripts/registry.sh" stop >/dev/null 2>&1 || true
  [ "${1:-}" != --fresh ] || rm -rf "$ATCR_REGISTRY_DIR"
  env_lines="$(bash "$REPO_ROOT/scripts/registry.sh" start)" || die "scripts/registry.sh start failed"
  eval "$env_lines"
}

# The e2e tests' stack (scripts/registry.sh) where the ATCR_E2E_* knobs say:
# its state dir (ATCR_E2E_DIR, then SUFFIX, "" for none) and its ports.
#   e2e_stack -oauth
e2e_stack() {
  export ATCR_REGISTRY_DIR="${ATCR_E2E_DIR:-/tmp/atcr-e2e-$(id -u)}$1"
  export ATCR_APPVIEW_PORT="${ATCR_E2E_APPVIEW_PORT:-5055}" ATCR_HOLD_PORT="${ATCR_E2E_HOLD_PORT:-8085}"
}

# A demo handle no earlier run made (accounts outlive a run in the shared PDS):
#   fresh_handle PREFIX [TAG]  ->  PREFIX<6 digits of the time>TAG.test
fresh_handle() { echo "$1$(date +%s | tail -c 6)${2:-}.test"; }

# docker-credential-atcr's device login, approved in chromium by the account
# (tests/e2e/device-browser.mjs signs in with ATProto OAuth on the way; the
# password goes only to the PDS's page, never to the helper). Needs ATCR_NODE
# and ATCR_BROWSER_NODE_PATH (scripts/node-tools.sh); DIR is scratch space.
#   device_login DIR HELPER REGISTRY HANDLE PASSWORD DEVICE_NAME
device_login() {
  local dir="$1" helper="$2" registry="$3" handle="$4" password="$5" device="$6" url="" pid
  rm -f "$dir/verification-url"
  printf '#!/bin/sh\necho "$1" >"%s/verification-url"\n' "$dir" >"$dir/browser.sh"
  chmod +x "$dir/browser.sh"
  BROWSER="$dir/browser.sh" "$helper" login "$registry" </dev/null >"$dir/login.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$dir/verification-url" ] && url="$(cat "$dir/verification-url")" && break
    sleep 0.1
  done
  echo "verification URL: ${url:-none}"
  [ -n "$url" ] && "$ATCR_NODE" "$REPO_ROOT/tests/e2e/device-browser.mjs" approve "$url" "$handle" "$password" "$device" ||
    { kill "$pid"; cat "$dir/login.out"; return 1; }
  wait "$pid" || { cat "$dir/login.out"; return 1; }
  cat "$dir/login.out"
}
