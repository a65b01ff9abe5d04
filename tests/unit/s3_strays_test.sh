#!/usr/bin/env bash
# s3_strays_test.sh - scripts/s3.sh stops the Ceph daemons an earlier run
# left on its dir's config when no pid file names them any more (a killed
# run, a wiped dir), and only those: stand-ins named ceph-mon, ceph-osd and
# radosgw (copies of bash, which only sleep), one on the config by its
# command line (-c, as s3.sh starts them), one by its environment
# (CEPH_CONF, as it once did), and a radosgw of another dir, which must live.
set -uo pipefail
LOG_TAG=s3-strays
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_workdir s3-strays
DIR="$W/s3"
mkdir -p "$DIR/run" "$W/bin" "$W/other"
: >"$DIR/ceph.conf"
pids=()
e2e_stop() { { kill -KILL "${pids[@]}"; wait "${pids[@]}"; } 2>/dev/null; }
# stand_in NAME ARGS...: a copy of bash named NAME, sleeping; its pid in $!
stand_in() {
  local name="$1"
  shift
  cp "$(command -v bash)" "$W/bin/$name"
  "$W/bin/$name" -c 'while :; do sleep 0.2; done' "$@" &
  pids+=($!)
}
stand_in ceph-mon "$DIR/ceph.conf"
by_cmdline=$!
CEPH_CONF="$DIR/ceph.conf" stand_in ceph-osd
by_environ=$!
stand_in radosgw "$W/other/ceph.conf"
other=$!
sleep 0.3

t "the stand-ins run" kill -0 "$by_cmdline" "$by_environ" "$other"
t "s3.sh stop" env ATCR_S3_DIR="$DIR" bash "$REPO_ROOT/scripts/s3.sh" stop
gone() { for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
t "  stopped the one on the config by its command line" gone "$by_cmdline"
t "  and the one by its environment" gone "$by_environ"
t "  not another dir's" kill -0 "$other"
check_summary "s3 strays"
