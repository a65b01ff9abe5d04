#!/usr/bin/env bash
# bench/webui.sh - the web UI's page throughput over a network index of
# 10k repositories, beside nginx serving static pages of the same sizes:
#   bash bench/webui.sh
# Runs $BUILD/bench/webui_bench (default BUILD=build-bench, compiled if
# missing: an AppView whose index holds USERS x 10 repositories, identities
# resolved in memory), then wrk (THREADS threads, CONNS connections, DUR
# seconds each) against a repository page and a search, and against nginx
# serving each page's bytes as a file. Prints req/s, the ratio to nginx, and
# peak RSS (the AppView's VmHWM, nginx's workers). Both servers share the
# machine with wrk. Results: $BUILD/bench-results/webui.txt; the index is
# kept in $BUILD/bench-results/webui-index-<USERS>/ for the next run.
set -euo pipefail
LOG_TAG=bench-webui
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
. "$REPO_ROOT/bench/lib.sh"
cd "$REPO_ROOT"

BUILD="${BUILD:-build-bench}"
BIN="$BUILD/bench/webui_bench"
USERS="${USERS:-1000}" DUR="${DUR:-10}" CONNS="${CONNS:-32}" THREADS="${THREADS:-2}"
for tool in wrk nginx curl python3; do command -v "$tool" >/dev/null || die "$tool is missing"; done
if [ ! -x "$BIN" ]; then
  bench_compile "$BUILD" bench/webui_bench
fi
OUT="$BUILD/bench-results"
WORK="$(mktemp -d /tmp/atcr-webui-bench.XXXXXX)"
mkdir -p "$OUT" "$WORK/www"
APP_PORT="$(free_port)" NGINX_PORT="$(free_port)"

mkfifo "$WORK/stdin"
INDEX_DIR="$OUT/webui-index-$USERS"  # kept between runs: filling it takes minutes
"$BIN" "$INDEX_DIR" "$APP_PORT" "$USERS" <"$WORK/stdin" >"$WORK/app.out" 2>"$WORK/app.err" &
app_pid=$!
exec 7>"$WORK/stdin"  # the bench runs until this closes
nginx_pid=""
cleanup() {
  exec 7>&-
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
  wait "$app_pid" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 600); do grep -q ready "$WORK/app.out" 2>/dev/null && break; kill -0 "$app_pid" || die "webui_bench exited: $(cat "$WORK/app.err")"; sleep 0.2; done
grep -q ready "$WORK/app.out" || die "webui_bench not ready after 120 s"
log "$(cat "$WORK/app.err")"

AV="http://127.0.0.1:$APP_PORT"
REPO_PATH="/r/u$((USERS / 2)).bench.test/app5"
SEARCH_PATH="/search?q=u$((USERS / 2))"  # one user's 10 repositories
BROAD_PATH="/search?q=service"            # a word of every README: 10k matches ranked
curl -sf -o "$WORK/www/repo.html" "$AV$REPO_PATH" || die "no repository page at $AV$REPO_PATH"
curl -sf -o "$WORK/www/search.html" "$AV$SEARCH_PATH" || die "no search page"
curl -sf -o "$WORK/www/broad.html" "$AV$BROAD_PATH" || die "no search page"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  types { text/html html; }
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK" &
nginx_pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/repo.html" && break; sleep 0.1; done

rps() { wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
log "wrk -t$THREADS -c$CONNS -d${DUR}s, six runs"
app_repo="$(rps "$AV$REPO_PATH")"
nginx_repo="$(rps "http://127.0.0.1:$NGINX_PORT/repo.html")"
app_search="$(rps "$AV$SEARCH_PATH")"
nginx_search="$(rps "http://127.0.0.1:$NGINX_PORT/search.html")"
app_broad="$(rps "$AV$BROAD_PATH")"
nginx_broad="$(rps "http://127.0.0.1:$NGINX_PORT/broad.html")"
app_rss="$(awk '/VmHWM/ {print $2}' "/proc/$app_pid/status")"
nginx_rss="$(for p in $(pgrep -P "$nginx_pid") "$nginx_pid"; do awk '/VmHWM/ {print $2}' "/proc/$p/status"; done | awk '{s+=$1} END {print s}')"
python3 - "$USERS" "$(stat -c %s "$WORK/www/repo.html")" "$(stat -c %s "$WORK/www/search.html")" \
  "$app_repo" "$nginx_repo" "$app_search" "$nginx_search" "$app_rss" "$nginx_rss" \
  "$(stat -c %s "$WORK/www/broad.html")" "$app_broad" "$nginx_broad" <<'PY' | tee "$OUT/webui.txt"
import sys
users, repo_b, search_b, ar, nr, as_, ns, arss, nrss, broad_b, ab, nb = sys.argv[1:]
ar, nr, as_, ns, ab, nb = map(float, (ar, nr, as_, ns, ab, nb))
print(f"web UI over an index of {int(users) * 10} repositories (req/s; nginx serves the same bytes as a file)")
print(f"{'page':<22}{'bytes':>8}{'atcr':>12}{'nginx':>12}{'atcr/nginx':>12}")
print(f"{'repository page':<22}{repo_b:>8}{ar:>12.0f}{nr:>12.0f}{ar / nr:>12.3f}")
print(f"{'search (10 hits)':<22}{search_b:>8}{as_:>12.0f}{ns:>12.0f}{as_ / ns:>12.3f}")
print(f"{'search (10k hits)':<22}{broad_b:>8}{ab:>12.0f}{nb:>12.0f}{ab / nb:>12.4f}")
print(f"peak RSS: atcr-appview {int(arss) / 1024:.1f} MiB, nginx (master + workers) {int(nrss) / 1024:.1f} MiB")
PY
