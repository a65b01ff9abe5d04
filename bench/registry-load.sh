#!/usr/bin/env bash
# registry-load.sh HOST:PORT — push/pull timings with skopeo + HTTP load (wrk, ab) against an
# OCI Distribution registry speaking plain HTTP. Prints a compact table; full logs in $WORK.
# bench/registry.sh runs it against atcr and against Distribution and compares them; it reads
# the KEY=VALUE lines this script also writes to $KV (one per measured number).
#
# Needs: skopeo, wrk, ab (apache2-utils), python3, curl, tests/e2e/mkimage.py
# Env knobs (defaults):
#   RUNS=3             timed repetitions per image (median reported)
#   IMAGES="small medium large"   small=3x1MiB, medium=5x20MiB, large=1x512MiB random-data layers
#   SPEC_<name>="--layers ..."    mkimage.py args for a custom image name listed in IMAGES
#   FRESH=1            1: new random image per run (every push uploads brand-new blobs)
#                      0: reuse $LAB/images/<name> (pushes 2..N hit "blob already stored" path)
#   DUR=10 THREADS=2 CONNS=32     load-test duration (s), wrk threads, connections (wrk and ab)
#   CREDS=user:pass    credentials for skopeo (and basic auth for the load tools)
#   TOKEN_URL=<url>    token auth: the load tools get a pull token for the load repo from
#                      <url>&scope=repository:<repo>:pull with CREDS (docker's token protocol)
#   KV=<file>          where the KEY=VALUE results go (default $WORK/results-<runid>.kv)
#   REG_PID=<pid>      registry PID for RSS/CPU (default: owner of the listening socket, via ss)
#   PREFIX=bench       repository prefix; repos are $PREFIX/<name>-<runid>-<i>
#   SKIP_COPY=1 / SKIP_LOAD=1     skip a phase;  CLEANUP=0 keep pushed manifests (default deletes)
#   LOADS="manifest blob tags"    which load rows: manifest GET/HEAD, blob HEAD + GET, tags/list
#   FETCHES=1500       GET blob: requests per curl round (rounds repeat for DUR seconds)
#   WARMUP=1           push and pull a small image once, untimed, before phase 1 (the first
#                      login and connection set-up are not what the timings are about)
#   LAB=/tmp/atcr-reg   WORK=$LAB/bench-work
set -euo pipefail
H=${1:?usage: bench-registry.sh HOST:PORT}
LAB=${LAB:-/tmp/atcr-reg}; WORK=${WORK:-$LAB/bench-work}
RUNS=${RUNS:-3}; IMAGES=${IMAGES:-"small medium large"}; FRESH=${FRESH:-1}
DUR=${DUR:-10}; THREADS=${THREADS:-2}; CONNS=${CONNS:-32}; LOADS=${LOADS:-"manifest blob tags"}
FETCHES=${FETCHES:-1500}
CREDS=${CREDS:-}; PREFIX=${PREFIX:-bench}; CLEANUP=${CLEANUP:-1}
# The images (SPEC_small/medium/large), BIC and the arithmetic below.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNID=$(date +%H%M%S)-$$
mkdir -p "$WORK"; LOG=$WORK/bench-$RUNID.log; : >"$LOG"
KV=${KV:-$WORK/results-$RUNID.kv}; : >"$KV"
kv() { echo "$1=$2" >>"$KV"; }
MKIMAGE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/e2e/mkimage.py"
RES=$LAB/results; mkdir -p "$RES"; OUTF=$RES/bench-${H//[:\/]/_}-$(date +%Y%m%d-%H%M%S).txt

die() { echo "ERROR: $*" >&2; echo "(log: $LOG)" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >>"$LOG"; echo "$*" >&2; }

# --- client flags -------------------------------------------------------------------------
SK_SRC=(--src-tls-verify=false); SK_DST=(--dest-tls-verify=false); SK_ONE=(--tls-verify=false)
CURL=(curl -fsS); AUTHH=()
if [ -n "$CREDS" ]; then
  SK_SRC+=(--src-creds "$CREDS"); SK_DST+=(--dest-creds "$CREDS"); SK_ONE+=(--creds "$CREDS")
  CURL+=(-u "$CREDS"); AUTHH=(-H "Authorization: Basic $(printf %s "$CREDS" | base64 -w0)")
fi
# use_token REPO: switch curl, wrk and ab to a bearer token for REPO (token-auth registries).
use_token() {
  [ -n "${TOKEN_URL:-}" ] || return 0
  local token
  token=$(curl -fsS -u "$CREDS" "$TOKEN_URL&scope=repository:$1:pull" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || die "no token from $TOKEN_URL"
  CURL=(curl -fsS -H "Authorization: Bearer $token"); AUTHH=(-H "Authorization: Bearer $token")
}
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$H/v2/")" != 000 ] || die "registry http://$H/v2/ not reachable"

# --- registry process (RSS / CPU) ---------------------------------------------------------
PORT=${H##*:}
if [ -z "${REG_PID:-}" ]; then
  REG_PID=$(ss -ltnpH "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
fi
TCK=$(getconf CLK_TCK)
cpu_s() { [ -n "$REG_PID" ] && [ -r /proc/$REG_PID/stat ] && awk -v t="$TCK" '{printf "%.2f", ($14+$15)/t}' /proc/$REG_PID/stat || echo 0; }
mem_kb() { [ -n "$REG_PID" ] && awk -v k="$1" '$1==k":"{print $2}' /proc/$REG_PID/status 2>/dev/null || echo "?"; }
RSS0=$(mem_kb VmRSS)

# --- helpers ------------------------------------------------------------------------------
now() { echo "$EPOCHREALTIME"; }
spec_of() { local v="SPEC_$1"; [ -n "${!v:-}" ] || die "no SPEC_$1 defined"; echo "${!v}"; }
make_image() { # make_image NAME DIR
  rm -rf "$2"; python3 "$MKIMAGE" "$2" --tag v1 $(spec_of "$1") >>"$LOG" || die "mkimage $1"; }
image_dir() { # image_dir NAME RUN -> path
  if [ "$FRESH" = 1 ]; then make_image "$1" "$WORK/img-$1-$2"; echo "$WORK/img-$1-$2"
  else [ -f "$LAB/images/$1/index.json" ] || make_image "$1" "$LAB/images/$1"; echo "$LAB/images/$1"; fi; }
sk() { skopeo "$@" >>"$LOG" 2>&1; }

ROWS=()
PUSHED_REPOS=()
if [ "${WARMUP:-0}" = 1 ]; then
  make_image small "$WORK/img-warmup"
  sk copy -q "${SK_DST[@]}" "oci:$WORK/img-warmup:v1" "docker://$H/$PREFIX/warmup-$RUNID:v1" || die "warm-up push"
  rm -rf "$WORK/pull-warmup"
  sk copy -q "${SK_SRC[@]}" "docker://$H/$PREFIX/warmup-$RUNID:v1" "oci:$WORK/pull-warmup:v1" || die "warm-up pull"
  rm -rf "$WORK/img-warmup" "$WORK/pull-warmup"
  PUSHED_REPOS+=("$PREFIX/warmup-$RUNID")
fi
# --- phase 1: push / pull with skopeo -------------------------------------------------------
if [ "${SKIP_COPY:-0}" != 1 ]; then
  for name in $IMAGES; do
    push=(); pull=(); repush=(); pcpu=(); lcpu=(); bytes=0
    for i in $(seq "$RUNS"); do
      dir=$(image_dir "$name" "$i"); bytes=$(blob_bytes "$dir"); dg=$(top_digest "$dir")
      repo=$PREFIX/$name-$RUNID-$i; ref=docker://$H/$repo:v1
      rm -f "$BIC"; sync; c0=$(cpu_s); t0=$(now)
      sk copy -q --preserve-digests "${SK_DST[@]}" "oci:$dir:v1" "$ref" || die "push $name run $i"
      t1=$(now); c1=$(cpu_s); push+=("$(sub "$t0" "$t1")"); pcpu+=("$(sub "$c0" "$c1")")
      PUSHED_REPOS+=("$repo")
      got=$(skopeo inspect --raw "${SK_ONE[@]}" "$ref" | sha256sum | cut -d' ' -f1)
      [ "sha256:$got" = "$dg" ] || die "push $name: manifest digest mismatch ($got vs $dg)"
      # push again to the same repo: every blob already there -> HEAD-only path
      t0=$(now); sk copy -q "${SK_DST[@]}" "oci:$dir:v1" "$ref" || die "repush $name"; t1=$(now)
      repush+=("$(sub "$t0" "$t1")")
      # pull into an empty OCI layout
      out=$WORK/pull-$name; rm -rf "$out"; sync; c0=$(cpu_s); t0=$(now)
      sk copy -q --preserve-digests "${SK_SRC[@]}" "$ref" "oci:$out:v1" || die "pull $name run $i"
      t1=$(now); c1=$(cpu_s); pull+=("$(sub "$t0" "$t1")"); lcpu+=("$(sub "$c0" "$c1")")
      [ "$(top_digest "$out")" = "$dg" ] || die "pull $name: manifest digest changed"
      diff <(ls "$dir/blobs/sha256" | sort) <(ls "$out/blobs/sha256" | sort) >/dev/null || die "pull $name: blob set differs"
      if [ "$i" = 1 ]; then  # full content check once per image
        (cd "$out/blobs/sha256" && for f in *; do echo "$f  $f"; done | sha256sum -c --quiet -) >>"$LOG" 2>&1 || die "pull $name: blob content hash mismatch"
      fi
      log "  $name run $i: push ${push[-1]}s pull ${pull[-1]}s repush ${repush[-1]}s (srv cpu push ${pcpu[-1]}s pull ${lcpu[-1]}s)"
      [ "$FRESH" = 1 ] && [ "$i" -gt 1 ] && rm -rf "$WORK/img-$name-$((i-1))"
    done
    [ "$FRESH" = 1 ] && rm -rf "$WORK/img-$name-$RUNS"; rm -rf "$WORK/pull-$name"
    mp=$(median "${push[@]}"); ml=$(median "${pull[@]}"); mr=$(median "${repush[@]}")
    kv "push_MBs.$name" "$(mbps "$bytes" "$mp")"; kv "pull_MBs.$name" "$(mbps "$bytes" "$ml")"; kv "repush_s.$name" "$mr"
    ROWS+=("$(printf '%-8s %9.1f %8s %8s %8s %8s %8s %7s %7s' "$name" "$(awk -v b=$bytes 'BEGIN{print b/1048576}')" \
      "$mp" "$(mbps "$bytes" "$mp")" "$ml" "$(mbps "$bytes" "$ml")" "$mr" "$(median "${pcpu[@]}")" "$(median "${lcpu[@]}")")")
  done
fi
RSS1=$(mem_kb VmRSS)

# --- phase 2: HTTP load ---------------------------------------------------------------------
LROWS=()
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$1"; }
run_wrk() { # run_wrk LABEL URL [wrk args...]
  local label=$1 url=$2; shift 2
  local f=$WORK/wrk-${label//[^A-Za-z0-9]/_}.txt c0 c1
  c0=$(cpu_s); wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "${AUTHH[@]}" "$@" "$url" >"$f" 2>&1 || true; c1=$(cpu_s)
  local rps p50 p99 bad err tr
  rps=$(awk '/^Requests\/sec/{print $2}' "$f"); tr=$(awk '/^Transfer\/sec/{print $2}' "$f")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$f")"); p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$f")")
  bad=$(awk '/Non-2xx/{print $NF}' "$f"); bad=${bad:-0}
  err=$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10}' "$f"); err=${err:-0}
  LROWS+=("$(printf '%-22s %-4s %10s %8s %8s %10s %6s %6s %7s' "$label" wrk "${rps:-?}" "$p50" "$p99" "${tr:-?}" "$bad" "$err" \
    "$(awk -v a="$c0" -v b="$c1" -v d="$DUR" 'BEGIN{printf "%.0f", (b-a)/d*100}')")")
  log "  load $label: ${rps:-?} req/s p50=${p50}ms p99=${p99}ms non2xx=$bad sockerr=$err"
  kv "rps.$label" "${rps:-0}"; kv "bad.$label" "$((bad + err))"
}
run_ab_head() { # run_ab_head LABEL URL [ab args...]   (wrk 4.1 cannot do HEAD: it waits for a body)
  local label=$1 url=$2; shift 2
  local f=$WORK/ab-${label//[^A-Za-z0-9]/_}.txt c0 c1
  c0=$(cpu_s); ab -q -k -i -c "$CONNS" -t "$DUR" -n $((DUR*200000)) "${AUTHH[@]}" "$@" "$url" >"$f" 2>&1 || true; c1=$(cpu_s)
  local rps p50 p99 fail non2
  rps=$(awk '/^Requests per second/{print $4}' "$f")
  p50=$(awk '$1=="50%"{print $2}' "$f"); p99=$(awk '$1=="99%"{print $2}' "$f")
  fail=$(awk '/^Failed requests/{print $3}' "$f"); non2=$(awk '/^Non-2xx/{print $3}' "$f")
  LROWS+=("$(printf '%-22s %-4s %10s %8s %8s %10s %6s %6s %7s' "$label" ab "${rps:-?}" "${p50:-?}" "${p99:-?}" "-" "${non2:-0}" "${fail:-?}" \
    "$(awk -v a="$c0" -v b="$c1" -v d="$DUR" 'BEGIN{printf "%.0f", (b-a)/d*100}')")")
  log "  load $label: ${rps:-?} req/s p50=${p50}ms p99=${p99}ms non2xx=${non2:-0} failed=${fail:-?}"
  kv "rps.$label" "${rps:-0}"; kv "bad.$label" "$(( ${non2:-0} + ${fail:-0} ))"
}
# run_fetch LABEL URL SIZE: GET blob as a client does it: follow redirects (a registry
# may send the client to where the bytes are: atcr to its hold or a presigned S3 URL,
# Distribution on S3 to a presigned URL) and count the bytes delivered. curl -Z keeps
# $CONNS transfers in flight over reused connections; rounds of $FETCHES requests
# repeat until $DUR seconds have passed. A custom Authorization header goes to the
# registry only, never to the host a redirect names (curl drops it there).
wants() { [[ " $LOADS " == *" $1 "* ]]; }
run_fetch() {
  local label=$1 url=$2 size=$3
  local f=$WORK/fetch-${label//[^A-Za-z0-9]/_}.txt cfg=$WORK/fetch.cfg c0 c1 t0 t1 n=0 good=0 bad=0 bytes=0
  : >"$f"
  for _ in $(seq "$FETCHES"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done >"$cfg"
  c0=$(cpu_s); t0=$(now)
  while :; do
    curl -sS -Z --parallel-immediate --parallel-max "$CONNS" -L "${AUTHH[@]}" \
      -w '%{http_code} %{size_download}\n' -K "$cfg" >>"$f" 2>>"$LOG" || true
    t1=$(now); n=$((n + FETCHES))
    awk -v a="$t0" -v b="$t1" -v d="$DUR" 'BEGIN{exit !(b-a >= d)}' && break
  done
  c1=$(cpu_s)
  read -r good bad bytes < <(awk -v s="$size" '$1==200 && $2==s {g++; b+=$2; next} {x++} END{print g+0, x+0, b+0}' "$f")
  local secs mbs rps
  secs=$(sub "$t0" "$t1"); mbs=$(mbps "$bytes" "$secs"); rps=$(awk -v g="$good" -v s="$secs" 'BEGIN{printf "%.1f", g/s}')
  LROWS+=("$(printf '%-22s %-4s %10s %8s %8s %10s %6s %6s %7s' "$label" curl "$rps" - - "${mbs}MB" "$bad" 0 \
    "$(awk -v a="$c0" -v b="$c1" -v d="$secs" 'BEGIN{printf "%.0f", (b-a)/d*100}')")")
  log "  load $label: $mbs MB/s ($rps req/s, $good whole blobs in ${secs}s, $bad not 200 or short)"
  kv "blob_MBs.$label" "$mbs"; kv "bad.$label" "$bad"
}
if [ "${SKIP_LOAD:-0}" != 1 ]; then
  command -v wrk >/dev/null || die "wrk not installed (apt-get install wrk)"
  command -v ab >/dev/null || die "ab not installed (apt-get install apache2-utils)"
  [ -f "$LAB/images/small/index.json" ] || make_image small "$LAB/images/small"
  LREPO=$PREFIX/load-$RUNID
  sk copy -q "${SK_DST[@]}" "oci:$LAB/images/small:v1" "docker://$H/$LREPO:v1" || die "push load image"
  PUSHED_REPOS+=("$LREPO")
  use_token "$LREPO"
  MDG=$(top_digest "$LAB/images/small")
  L0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' \
       "$LAB/images/small/blobs/sha256/${MDG#sha256:}")
  L0SZ=$(stat -c %s "$LAB/images/small/blobs/sha256/${L0#sha256:}")
  ACC='Accept: application/vnd.oci.image.manifest.v1+json'
  # sanity: manifest GET returns the pushed bytes, blob GET returns the blob
  [ "$("${CURL[@]}" -H "$ACC" "http://$H/v2/$LREPO/manifests/v1" | sha256sum | cut -d' ' -f1)" = "${MDG#sha256:}" ] || die "manifest GET bytes differ"
  # -L: a registry may redirect blob downloads (atcr sends clients to the hold)
  [ "$("${CURL[@]}" -L "http://$H/v2/$LREPO/blobs/$L0" | sha256sum | cut -d' ' -f1)" = "${L0#sha256:}" ] || die "blob GET bytes differ"
  log "load tests: ${DUR}s each, wrk -t$THREADS -c$CONNS / ab -k -c$CONNS"
  if wants manifest; then
    run_wrk  "GET manifest (tag)"     "http://$H/v2/$LREPO/manifests/v1" -H "$ACC"
    run_wrk  "GET manifest (digest)"  "http://$H/v2/$LREPO/manifests/$MDG" -H "$ACC"
    run_ab_head "HEAD manifest (tag)" "http://$H/v2/$LREPO/manifests/v1" -H "$ACC"
  fi
  if wants blob; then
    run_ab_head "HEAD blob${BLOB_LABEL:-}" "http://$H/v2/$LREPO/blobs/$L0"
    run_fetch "GET blob $((L0SZ/1048576))MiB${BLOB_LABEL:-}" "http://$H/v2/$LREPO/blobs/$L0" "$L0SZ"
  fi
  wants tags && run_wrk "GET tags/list"       "http://$H/v2/$LREPO/tags/list"
fi
RSS2=$(mem_kb VmRSS); HWM=$(mem_kb VmHWM)
kv "peak_rss_kb" "$HWM"

# --- cleanup --------------------------------------------------------------------------------
if [ "$CLEANUP" = 1 ]; then
  for r in "${PUSHED_REPOS[@]}"; do skopeo delete "${SK_ONE[@]}" "docker://$H/$r:v1" >>"$LOG" 2>&1 || true; done
fi

# --- report ---------------------------------------------------------------------------------
{
  echo "# bench-registry.sh $H  $(date -Is)  runs=$RUNS fresh=$FRESH  load: ${DUR}s t=$THREADS c=$CONNS  host: $(nproc) cpu, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# registry pid=${REG_PID:-?} $( [ -n "${REG_PID:-}" ] && tr '\0' ' ' </proc/$REG_PID/cmdline 2>/dev/null | cut -c1-80)"
  if [ ${#ROWS[@]} -gt 0 ]; then
    echo "# push/pull: skopeo copy oci:<layout> <-> docker://, median of $RUNS; MB/s = 10^6 B/s of blob bytes; repush = all blobs present"
    printf '%-8s %9s %8s %8s %8s %8s %8s %7s %7s\n' image MiB push_s push_MBs pull_s pull_MBs repush_s srvCPUp srvCPUl
    printf '%s\n' "${ROWS[@]}"
  fi
  if [ ${#LROWS[@]} -gt 0 ]; then
    echo "# load: req/s, latency p50/p99 in ms (ab: integer ms), non2xx, errors (wrk socket errs / ab failed), srv CPU% (200 = both cores)"
    echo "# (curl rows: GET blob following redirects; xfer/s = MB/s of whole blobs delivered, non2xx = not 200 or short)"
    printf '%-22s %-4s %10s %8s %8s %10s %6s %6s %7s\n' test tool req/s p50_ms p99_ms xfer/s non2xx errs srvCPU%
    printf '%s\n' "${LROWS[@]}"
  fi
  echo "# registry RSS kB: start=$RSS0 after-push/pull=$RSS1 after-load=$RSS2 peak(VmHWM)=$HWM"
} | tee "$OUTF"
echo "(saved: $OUTF; log: $LOG)" >&2
