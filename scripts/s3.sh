#!/usr/bin/env bash
# s3.sh - a throwaway S3 server for the integration tests: Ceph's RADOS
# Gateway (radosgw, from Debian) over a one-node RADOS cluster whose single
# OSD keeps everything in RAM (memstore). radosgw verifies SigV4 the way AWS
# does, which is the point: our signing is tested against a real verifier.
#
#   scripts/s3.sh start   start it (or reuse the one running), print its env
#   scripts/s3.sh env     print the env of the running one (fails if none)
#   scripts/s3.sh stop    stop the daemons this script started (by pid),
#                         and any other Ceph daemon on this dir's config
#
# The env printed, one per line, for `eval` or `export`:
#   S3_ENDPOINT S3_REGION S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_VHOST_DOMAIN
# S3_VHOST_DOMAIN is the name radosgw treats as virtual-host style
# ("BUCKET.s3.localhost"); libcurl resolves *.localhost to loopback itself.
#
# Everything binds to 127.0.0.1. A start that is not a reuse wipes the state
# dir, so it begins with an empty bucket. Concurrent starts are serialised
# with a lock, so parallel tests share one server. Ceph comes from
# scripts/setup-deps.sh; this script never installs anything (it runs inside
# tests) and fails with a clear message when Ceph is missing. Env knobs:
#   ATCR_S3_DIR   state and logs           (default /tmp/atcr-s3-<uid>)
#   ATCR_S3_PORT  S3 port; PORT+1 is the monitor, PORT+2..PORT+7 the OSD
#                 and client messengers    (default 7480)
#   ATCR_S3_MEM_GB memstore capacity        (default 4; RAM is used lazily)
set -euo pipefail
LOG_TAG=s3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="${ATCR_S3_DIR:-/tmp/atcr-s3-$(id -u)}"
PORT="${ATCR_S3_PORT:-7480}"
MEM_GB="${ATCR_S3_MEM_GB:-4}"
MON_PORT=$((PORT + 1))
ENDPOINT="http://127.0.0.1:$PORT"
ACCESS_KEY=ATCRLOCALACCESSKEY01
SECRET_KEY=atcr-local-secret-key-not-a-real-secret0
BUCKET=atcr-test
VHOST_DOMAIN=s3.localhost
export CEPH_CONF="$DIR/ceph.conf"
DAEMONS=(rgw:radosgw osd:ceph-osd mon:ceph-mon)  # name:command, in stop order

alive() { [ -s "$DIR/run/$1.pid" ] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }
answering() { curl -s -o /dev/null --max-time 2 "$ENDPOINT/"; }

print_env() {
  cat <<EOF
S3_ENDPOINT=$ENDPOINT
S3_REGION=us-east-1
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
S3_BUCKET=$BUCKET
S3_VHOST_DOMAIN=$VHOST_DOMAIN
EOF
}

# The pid of a daemon we started, if it still runs the command we started
# (pids get reused).
our_pid() {
  local pidfile="$DIR/run/$1.pid" pid
  [ -s "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

# Stops one daemon: SIGTERM, then SIGKILL if it is still there after 10 s.
stop_daemon() {
  local pid
  pid="$(our_pid "$1" "$2")" || { rm -f "$DIR/run/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) ignored SIGTERM for 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/run/$1.pid"
  stopped+=("$1")
}

# The pids of Ceph daemons running on this dir's config ($CEPH_CONF) that
# no pid file names any more: a run killed mid-start, or a dir wiped under
# running daemons, leaves them holding the ports. Ours name the config on
# their command line (-c); ones started before that, in their environment.
stray_pids() {
  local p
  for p in /proc/[0-9]*; do
    case "$(cat "$p/comm" 2>/dev/null)" in ceph-mon | ceph-osd | radosgw) ;; *) continue ;; esac
    if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$CEPH_CONF" ||
      tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF -- "CEPH_CONF=$CEPH_CONF"; then
      echo "${p#/proc/}"
    fi
  done
}

# Stops the strays (SIGTERM, SIGKILL after 10 s), never a daemon of
# another dir.
reap_strays() {
  local pids
  pids="$(stray_pids | tr '\n' ' ')"
  [ -n "$pids" ] || return 0
  log "stopping Ceph daemons an earlier run left on $CEPH_CONF: pids $pids"
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 $pids 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL $pids 2>/dev/null || true
}

# One after the other, clients first: an OSD whose monitor is gone waits
# seconds for it before exiting, and so does radosgw for both. Then the
# strays.
stop_all() {
  local d stopped=()
  rm -f "$DIR/env"
  for d in "${DAEMONS[@]}"; do stop_daemon "${d%%:*}" "${d#*:}"; done
  ((${#stopped[@]} == 0)) || log "stopped ${stopped[*]}"
  reap_strays
}

# fail MESSAGE: show the daemons' last log lines, stop what we started, exit.
fail() {
  log "ERROR: $1"
  local f
  for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
    [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 10 "$f" >&2; }
  done
  stop_all
  exit 1
}

# wait_for SECONDS WHAT DAEMON CMD...: polls CMD until it succeeds; fails when
# the time is up or DAEMON (whose readiness this is) has exited.
wait_for() {
  local seconds="$1" what="$2" daemon="$3"; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    alive "$daemon" || fail "$daemon exited while waiting for $what"
    ((SECONDS < deadline)) || fail "no $what after ${seconds}s"
    sleep 0.25
  done
}

require_packages() {
  local cmd missing=()
  for cmd in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool curl; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) ||
    die "Ceph is not installed (no ${missing[*]}): run scripts/setup-deps.sh (as root) first"
}

write_config() {
  cat >"$CEPH_CONF" <<EOF
# Written by scripts/s3.sh: one monitor, one in-memory OSD, one radosgw, all
# on loopback, no authentication between them, pools of one replica.
[global]
fsid = $1
mon_host = v2:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_port_min = $((PORT + 2))
ms_bind_port_max = $((PORT + 7))
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# With no auth the "secure" wire mode cannot be negotiated; radosgw would
# otherwise fail to authenticate to the monitor (EACCES) and hang.
ms_client_mode = crc
ms_mon_client_mode = crc
mon_allow_pool_size_one = true
# A nearly full /tmp must not stop the monitor: memstore keeps data in RAM.
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
# The monitor batches map changes for 1 s by default; radosgw's start makes
# a dozen of them (pools, zone). 0.1 s cuts the start from ~18 s to ~5 s.
paxos_propose_interval = 0.1
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = $((MEM_GB << 30))
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
mon_data = $DIR/mon/\$id
osd_data = $DIR/osd/\$id
keyring = $DIR/keyring

[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $DIR/rgw
rgw_dns_name = $VHOST_DOMAIN
EOF
}

# spawn NAME CMD...: starts a daemon in the foreground mode (-f) in the
# background, detached from our stdin/stdout so callers' pipes close, and
# without the start lock (fd 9), which would otherwise be held for its life.
spawn() {
  local name="$1"; shift
  nohup "$@" >"$DIR/log/$name.out" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/run/$name.pid"
}

ceph_cli() { timeout 20 ceph --connect-timeout 15 "$@"; }
osd_up() { ceph_cli osd stat | grep -q '1 up'; }

create_bucket() {
  # curl signs SigV4 itself; radosgw wants the payload hash header sent.
  local code
  code="$(curl -s -o "$DIR/log/create-bucket.out" -w '%{http_code}' --max-time 10 -X PUT \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" "$ENDPOINT/$BUCKET")" || true
  [ "$code" = 200 ]
}

# phase NAME: notes how long it took since the previous phase (or the start).
phase() {
  local now="${EPOCHREALTIME/./}"
  local ms=$(((now - phase_start) / 1000))
  timings+="${timings:+, }$1 $((ms / 1000)).$((ms % 1000 / 100))s"
  phase_start="$now"
}

start_fresh() {
  local p timings="" phase_start="${EPOCHREALTIME/./}" t0="${EPOCHREALTIME/./}"
  for p in $(seq "$PORT" $((PORT + 7))); do
    ss -Hltn "sport = :$p" | grep -q . && die "port $p is taken (need $PORT..$((PORT + 7)); set ATCR_S3_PORT)"
  done
  # Wipe only a dir that is ours: it has our config, or is empty.
  if [ -d "$DIR" ] && [ ! -e "$CEPH_CONF" ] && [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and has no ceph.conf; not wiping it (set ATCR_S3_DIR)"
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"/{mon,osd,run,log,rgw}
  : >"$DIR/keyring"
  local fsid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  write_config "$fsid"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CEPH_CONF" --id a --mkfs --monmap "$DIR/monmap" --keyring /dev/null >"$DIR/log/mon-mkfs.out" 2>&1 \
    || fail "ceph-mon --mkfs failed"
  spawn mon ceph-mon -c "$CEPH_CONF" --id a -f
  wait_for 30 "monitor quorum" mon ceph_cli mon stat
  phase mon

  local osd_id
  osd_id="$(ceph_cli osd create)" || fail "ceph osd create failed"
  mkdir -p "$DIR/osd/$osd_id"
  ceph-osd -c "$CEPH_CONF" --id "$osd_id" --mkfs >"$DIR/log/osd-mkfs.out" 2>&1 || fail "ceph-osd --mkfs failed"
  spawn osd ceph-osd -c "$CEPH_CONF" --id "$osd_id" -f
  wait_for 60 "OSD up" osd osd_up
  phase osd

  spawn rgw radosgw -c "$CEPH_CONF" -n client.rgw.a -f
  wait_for 90 "radosgw answering on $ENDPOINT" rgw answering
  phase radosgw
  timeout 60 radosgw-admin user create --uid=atcr --display-name=atcr \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$DIR/log/user-create.out" 2>&1 \
    || fail "radosgw-admin user create failed"
  # The new user may take a moment to be visible to radosgw's cache.
  wait_for 15 "bucket $BUCKET created" rgw create_bucket
  phase "user+bucket"
  local ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
  log "radosgw $(radosgw --version | awk '{print $3}') ready on $ENDPOINT in $((ms / 1000)).$((ms % 1000 / 100))s ($timings; state in $DIR)"
}

start() {
  require_packages
  mkdir -p "$(dirname "$DIR")"
  # One start at a time: parallel test programs all call `start`.
  exec 9>"$DIR.lock"
  flock -w 300 9 || die "timed out waiting for another s3.sh start ($DIR.lock)"
  if alive rgw && [ -s "$DIR/env" ] && answering; then
    log "reusing the radosgw running on $ENDPOINT"
  else
    stop_all
    start_fresh
    print_env >"$DIR/env"
  fi
  cat "$DIR/env"
}

case "${1:-}" in
  start) start ;;
  env)
    if ! alive rgw || [ ! -s "$DIR/env" ]; then die "not running (scripts/s3.sh start)"; fi
    cat "$DIR/env"
    ;;
  stop) stop_all ;;
  *) die "usage: $0 start|stop|env" ;;
esac
