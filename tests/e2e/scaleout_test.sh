#!/usr/bin/env bash
# scaleout_test.sh - two AppView instances behind haproxy sharing one
# PostgreSQL database (scripts/postgres.sh), the hold on radosgw and the
# reference PDS (scripts/registry.sh):
#   - haproxy sends each request to the next instance (round robin), so a
#     push's token, POST, PATCHes and PUT land on both: the token key, the
#     app-password session and the upload sessions (with the part being
#     filled) must be shared;
#   - a web OAuth sign-in begun on one instance completes with its callback on
#     the other (the sign-in in flight is in the database); a replayed
#     callback is an HTML error page on both;
#   - skopeo pushes a 5-layer image while the instance that leads the
#     firehose consumer is killed with SIGKILL mid-push; the push completes
#     (skopeo retries) and the image pulls byte for byte;
#   - the network index is shared: an image pushed through the leader shows
#     on the follower's /search, /r/ page and /v2/_catalog, and a pull
#     through each instance counts twice in the one index_pulls table;
#   - the survivor takes the consumer over within seconds (from the saved
#     cursor), and the web index gets what only the firehose brings (a repo
#     page written straight to the PDS).
#
# Env: ATCR_BUILD (set by meson), the ATCR_E2E_* ports and dir, ATCR_PG_PORT
# and ATCR_PG_DIR (scripts/postgres.sh); OAUTH_ARTIFACTS: where the browser's
# failure screenshots stay (default: the work dir, kept when a check failed).
set -uo pipefail
LOG_TAG=scaleout
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-scaleout"
e2e_workdir scaleout skopeo python3 curl haproxy /usr/bin/chromium
DIR="$ATCR_REGISTRY_DIR"
e2e_stop() {
  stop_daemon "$DIR" appview-a atcr-appview
  stop_daemon "$DIR" appview-b atcr-appview
  stop_daemon "$DIR" haproxy haproxy
}

# --- the shared pieces: PDS, hold on radosgw, PostgreSQL ------------------
export ATCR_HOLD_STORAGE=s3 ATCR_DEMO_HANDLE="$(fresh_handle scale)"
# registry.sh's own AppView (SQLite) is replaced below by the two instances.
e2e_start_stack --fresh
stop_daemon "$DIR" appview atcr-appview
bash "$REPO_ROOT/scripts/postgres.sh" start >/dev/null || die "scripts/postgres.sh start failed"
DB_URL="$(bash "$REPO_ROOT/scripts/postgres.sh" database atcr_e2e_scaleout | tail -1)" || die "no database"
S3_ENDPOINT="$(bash "$REPO_ROOT/scripts/s3.sh" env | sed -n 's/^S3_ENDPOINT=//p')"

# --- two AppViews and haproxy ----------------------------------------------
LB_PORT="$ATCR_APPVIEW_PORT"  # clients see the load balancer where the stack's registry would be
PORT_A="$(free_port)"
PORT_B="$(free_port)"
R="127.0.0.1:$LB_PORT"
start_appview() {  # NAME PORT
  spawn_daemon "$DIR" "appview-$1" env \
    ATCR_DATABASE_URL="$DB_URL" ATCR_UPLOADS_STORAGE_ORIGINS="$S3_ENDPOINT" ATCR_UPLOADS_PART_SIZE=5MiB \
    ATCR_SERVER_PORT="$2" ATCR_SERVER_PUBLIC_URL="http://$R" ATCR_SERVER_DATA_DIR="$DIR/appview-$1" \
    ATCR_SERVER_DEFAULT_HOLD_DID="$HOLD_DID" ATCR_IDENTITY_PLC_URL="$PLC_URL" \
    ATCR_IDENTITY_HANDLE_RESOLVER="$PDS_URL" ATCR_IDENTITY_DEVELOPMENT=true \
    ATCR_INDEX_PDSES="$PDS_URL,$HOLD_URL" ATCR_INDEX_BACKFILL=false \
    "$ATCR_BUILD/apps/atcr-appview" serve
}
answering() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" != 000 ]; }
# Both start at once: the migrations must serialise on the advisory lock.
start_appview a "$PORT_A"
start_appview b "$PORT_B"
wait_until 30 "appview a" "$DIR" appview-a answering "http://127.0.0.1:$PORT_A/v2/"
wait_until 30 "appview b" "$DIR" appview-b answering "http://127.0.0.1:$PORT_B/v2/"
cat >"$W/haproxy.cfg" <<EOF
global
  maxconn 512
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  option redispatch
  retries 3
  # A request the dead instance never answered goes to the other (bodies
  # that fit haproxy's buffer: HEADs, GETs, small PUTs).
  retry-on conn-failure empty-response response-timeout
frontend registry
  bind 127.0.0.1:$LB_PORT
  default_backend appviews
backend appviews
  balance roundrobin
  option httpchk GET /v2/
  http-check expect rstatus ^(200|401)\$
  server a 127.0.0.1:$PORT_A check inter 500 fall 2 rise 2
  server b 127.0.0.1:$PORT_B check inter 500 fall 2 rise 2
EOF
spawn_daemon "$DIR" haproxy haproxy -db -f "$W/haproxy.cfg"
wait_until 15 "haproxy" "$DIR" haproxy answering "http://$R/v2/"

leader_of() { curl -s --max-time 2 "http://127.0.0.1:$1/metrics" | grep '^atcr_appview_index_leader 1' >/dev/null; }
leader() {  # prints a or b (the instance following the firehose), or nothing
  leader_of "$PORT_A" && echo a
  leader_of "$PORT_B" && echo b
}
# One of them leads within a poll or two of starting; only one.
for _ in $(seq 50); do [ -n "$(leader)" ] && break; sleep 0.2; done
t "exactly one instance follows the firehose" bash -c "[ \"\$(echo '$(leader)' | wc -w)\" = 1 ]"
LEADER="$(leader | head -1)"
[ "$LEADER" = a ] && { SURVIVOR=b; SURVIVOR_PORT=$PORT_B; } || { LEADER=b; SURVIVOR=a; SURVIVOR_PORT=$PORT_A; }
echo "leader: $LEADER, survivor: $SURVIVOR" >>"$LOGF"

CREDS="$DEMO_HANDLE:$DEMO_PASSWORD"
REPO="$DEMO_HANDLE/scaled"
SKD=(--dest-tls-verify=false --dest-creds "$CREDS" --retry-times 5)
SKS=(--src-tls-verify=false --src-creds "$CREDS" --retry-times 3)
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img" --tag v1 --layers 7M,7M,7M,7M,7M --gzip-level 1 >/dev/null

# A token from one instance works on the other (one signing key).
t "a token issued by one instance is accepted by the other" bash -c "
  tok=\$(curl -s -u '$CREDS' 'http://127.0.0.1:$PORT_A/auth/token?service=$R&scope=repository:$REPO:pull,push' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')
  code=\$(curl -s -o /dev/null -w '%{http_code}' -X POST -H \"Authorization: Bearer \$tok\" http://127.0.0.1:$PORT_B/v2/$REPO/blobs/uploads/)
  [ \"\$code\" = 202 ]"
# A chunked upload whose PATCHes go to alternating instances.
t "a chunked upload across both instances" python3 - "$PORT_A" "$PORT_B" "$R" "$REPO" "$CREDS" <<'PY'
import base64, hashlib, json, os, sys, urllib.request
a, b, service, repo, creds = sys.argv[1:]
def req(port, method, path, body=None, headers={}):
    r = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers)
    try:
        resp = urllib.request.urlopen(r)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path} on {port}: {e.code} {e.read()[:300]}")
    return resp
auth = base64.b64encode(creds.encode()).decode()
tok = json.load(req(a, "GET", f"/auth/token?service={service}&scope=repository:{repo}:pull,push",
                    headers={"Authorization": "Basic " + auth}))["token"]
h = {"Authorization": "Bearer " + tok}
data = os.urandom(13 << 20)  # 13 MiB: two 5 MiB parts and a tail in the shared spill
loc = req(b, "POST", f"/v2/{repo}/blobs/uploads/", b"", h).headers["Location"]
at, ports, i = 0, [a, b], 0
for size in (3 << 20, 4 << 20, 2 << 20, 1 << 20):  # chunks cross part boundaries
    chunk = data[at:at + size]
    r = req(ports[i % 2], "PATCH", loc, chunk, {**h, "Content-Range": f"{at}-{at + size - 1}",
                                                "Content-Length": str(size), "Content-Type": "application/octet-stream"})
    loc = r.headers["Location"]; at += size; i += 1
# The upload's state is the same on both.
for p in (a, b):
    rng = req(p, "GET", loc, None, h).headers["Range"]
    assert rng == f"0-{at - 1}", (p, rng)
rest = data[at:]
digest = "sha256:" + hashlib.sha256(data).hexdigest()
sep = "&" if "?" in loc else "?"
req(ports[i % 2], "PUT", f"{loc}{sep}digest={digest}", rest,
    {**h, "Content-Range": f"{at}-{len(data) - 1}", "Content-Length": str(len(rest)),
     "Content-Type": "application/octet-stream"})
# The blob as a client reads it: a redirect to the hold or a presigned S3
# URL, followed without our token.
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args): return None
try:
    r = urllib.request.build_opener(NoRedirect).open(
        urllib.request.Request(f"http://127.0.0.1:{a}/v2/{repo}/blobs/{digest}", headers=h))
    got = r.read()
except urllib.error.HTTPError as e:
    assert e.code in (302, 307), e.code
    got = urllib.request.urlopen(e.headers["Location"]).read()
assert hashlib.sha256(got).hexdigest() == digest.split(":")[1], "pulled bytes differ"
print("ok", digest)
PY

# --- a web sign-in begun on one instance, finished on the other -------------
# (chromium through the PDS's own authorization UI; tests/e2e/scaleout-signin.mjs)
eval "$(bash "$REPO_ROOT/scripts/node-tools.sh")" || die "scripts/node-tools.sh failed"
signin_started=$SECONDS
signin="$(OAUTH_ARTIFACTS="${OAUTH_ARTIFACTS:-$W}" "$ATCR_NODE" "$REPO_ROOT/tests/e2e/scaleout-signin.mjs" "http://127.0.0.1:$PORT_A" \
  "http://127.0.0.1:$PORT_B" "http://$R" "$DEMO_HANDLE" "$DEMO_PASSWORD" 2>>"$LOGF")"
echo "sign-in: $signin" >>"$LOGF"
echo "the browser's sign-in took $((SECONDS - signin_started)) s" | tee -a "$LOGF"
signin_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[2] or "{}").get(sys.argv[1], ""))' "$1" "$signin"; }
t "an OAuth sign-in begun on instance A ends signed in with its callback on B" \
  test "$(signin_field signedIn)/$(signin_field landedOn)" = "True/http://127.0.0.1:$PORT_B"
t "  A began it, B finished it (their logs)" bash -c "grep -q 'GET /auth/oauth/authorize 303' '$DIR/log/appview-a.log' &&
  grep -q 'signed in with OAuth' '$DIR/log/appview-b.log' && ! grep -q 'signed in with OAuth' '$DIR/log/appview-a.log'"
CALLBACK="$(signin_field callback)"
for port in "$PORT_A" "$PORT_B"; do
  t "  the callback replayed to 127.0.0.1:$port is refused with an HTML page" bash -c "
    [ -n '$CALLBACK' ] && [ \"\$(curl -s -o '$W/replay.html' -w '%{http_code} %{content_type}' --max-time 20 \
      '${CALLBACK/$R/127.0.0.1:$port}')\" = '400 text/html; charset=utf-8' ] && grep -q 'already used' '$W/replay.html'"
done

# --- one index for all: what one instance indexes, the other shows ----------
# An image pushed straight to the leader: the follower (which does not
# follow the firehose) shows it on /search, its /r/ page and /v2/_catalog,
# because both read the index in the shared database.
[ "$LEADER" = a ] && LEADER_PORT=$PORT_A || LEADER_PORT=$PORT_B
IDX_NAME="sharedidx$$x$RANDOM"  # one search token
IDX_REPO="$DEMO_HANDLE/$IDX_NAME"
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/small" --tag v1 --layers 4K >/dev/null
t "an image pushed through the leader instance" \
  skopeo copy -q --dest-tls-verify=false --dest-creds "$CREDS" "oci:$W/small:v1" "docker://127.0.0.1:$LEADER_PORT/$IDX_REPO:v1"
shows() {  # PATH PATTERN: the follower's answer to PATH matches, within 10 s
  for _ in $(seq 50); do
    curl -s "http://127.0.0.1:$SURVIVOR_PORT$1" | grep -- "$2" >/dev/null && return 0
    sleep 0.2
  done
  return 1
}
t "  the follower's /search finds it" shows "/search?q=$IDX_NAME" "/r/$DEMO_HANDLE/$IDX_NAME"
t "  the follower's /r/ page shows its tag" shows "/r/$DEMO_HANDLE/$IDX_NAME" "v1"
t "  the follower's /v2/_catalog lists it" shows "/v2/_catalog?n=1000" "\"$IDX_REPO\""
# Hostile search input is a page (a 4xx for an over-long query), never a
# 5xx, on PostgreSQL's search too.
t "  hostile /search queries are answered, not 5xx" bash -c "
  for q in '%27%22%5C' 'a%20%26%20!b%20%7C%20c%3A*' '%FF%FE%00' 'x%3A*%20%3C-%3E%20(' \"\$(python3 -c 'print(\"x\"*900)')\" \"\$(python3 -c 'print(\"x\"*5000)')\"; do
    code=\$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$SURVIVOR_PORT/search?q='\"\$q\")
    [ \"\$code\" -ge 200 ] && [ \"\$code\" -lt 500 ] || { echo \"\${q:0:40}: \$code\"; exit 1; }
  done"
# Two clients' pulls, one through each instance (the user's, and an
# anonymous one: a client's pulls count once per window across instances):
# both add to the one index_pulls row.
pull_via() {  # PORT [CREDENTIALS]
  local tok
  tok=$(curl -s ${2:+-u "$2"} "http://127.0.0.1:$1/auth/token?service=$R&scope=repository:$IDX_REPO:pull" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$1/v2/$IDX_REPO/manifests/v1")" = 200 ]
}
t "  a pull through each instance" bash -c "$(declare -f pull_via); R='$R' IDX_REPO='$IDX_REPO'; pull_via $PORT_A '$CREDS' && pull_via $PORT_B"
t "  and the pull counts add up (2)" bash -c \
  "[ \"\$(psql -X -At '$DB_URL' -c \"SELECT count FROM index_pulls WHERE repository = '$IDX_NAME'\")\" = 2 ]"

# --- the push while the leader dies -----------------------------------------
leader_pid="$(cat "$DIR/run/appview-$LEADER.pid")"
# A client retries a push that failed (a PATCH cut off mid-body by the kill
# is answered 502); blobs already stored are skipped the next time.
(for attempt in 1 2 3; do
  skopeo copy -q "${SKD[@]}" "oci:$W/img:v1" "docker://$R/$REPO:v1" && exit 0
  echo "push attempt $attempt failed"
done; exit 1) >"$W/push.out" 2>&1 &
push_pid=$!
# Mid-push: once the first upload is in the database.
for _ in $(seq 300); do
  n="$(psql -X -At "$DB_URL" -c 'SELECT COUNT(*) FROM uploads' 2>/dev/null || echo 0)"
  [ "${n:-0}" -gt 0 ] && break
  kill -0 "$push_pid" 2>/dev/null || break
  sleep 0.1
done
sleep 0.5
killed_at="${EPOCHREALTIME/./}"
kill -KILL "$leader_pid"
t "the leader was killed mid-push" bash -c "kill -0 $push_pid 2>/dev/null"
wait "$push_pid"
push_status=$?
cat "$W/push.out" >>"$LOGF"
t "the push completes" test "$push_status" = 0
# The survivor takes the firehose over within seconds: when its log says so
# (its /metrics may answer slowly while it carries the push alone).
took=""
for _ in $(seq 150); do
  leader_of "$SURVIVOR_PORT" && break
  sleep 0.1
done
took="$(python3 - "$DIR/log/appview-$SURVIVOR.log" "$killed_at" <<'PY'
import datetime, sys
killed = int(sys.argv[2]) / 1e6
for line in open(sys.argv[1], errors="replace"):
    if "this instance leads" not in line: continue
    t = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    if t.timestamp() >= killed - 0.5: print(int((t.timestamp() - killed) * 1000)); break
PY
)"
echo "failover took ${took:-?} ms (the survivor's log)" | tee -a "$LOGF"
t "the survivor leads the firehose consumer within 10 s" test "${took:-99999}" -lt 10000
t "  and says so on /metrics" leader_of "$SURVIVOR_PORT"
# Config and layers, byte for byte (what a client runs).
blobs_of() {
  python3 - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
def blob(dg): return os.path.join(d, "blobs", *dg.split(":"))
m = json.load(open(blob(json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"])))
for b in [m["config"]] + m["layers"]: print(b["digest"])
PY
}
t "the image pulls byte for byte" bash -c "
  skopeo copy -q ${SKS[*]} docker://$R/$REPO:v1 oci:$W/pulled:v1 && $(declare -f blobs_of) &&
  [ \"\$(blobs_of $W/img | wc -l)\" = 6 ] &&
  for dg in \$(blobs_of $W/img); do cmp $W/img/blobs/\${dg/://} $W/pulled/blobs/\${dg/://} || exit 1; done"

# A repo page written straight to the PDS reaches the survivor's index only
# through the firehose it now consumes.
MARK="scaleoutmark$$x$RANDOM"  # one search token
python3 - "$PDS_URL" "$DEMO_HANDLE" "$DEMO_PASSWORD" "$MARK" <<'PY' >>"$LOGF" 2>&1
import json, sys, urllib.request
pds, handle, password, mark = sys.argv[1:]
def call(nsid, body, token=None):
    req = urllib.request.Request(f"{pds}/xrpc/{nsid}", data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
s = call("com.atproto.server.createSession", {"identifier": handle, "password": password})
rec = {"$type": "io.atcr.repo.page", "repository": "scaled", "description": f"# scaled\n\n{mark}",
       "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}
print(call("com.atproto.repo.putRecord", {"repo": s["did"], "collection": "io.atcr.repo.page", "rkey": "scaled",
                                          "record": rec}, s["accessJwt"]))
PY
seen=""
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$SURVIVOR_PORT/search?q=$MARK" | grep "/r/$DEMO_HANDLE/scaled" >/dev/null && { seen=1; break; }
  sleep 0.2
done
t "the survivor's web index gets the firehose's records (/search)" test -n "$seen"
t "  and the pushed image's page (/r/)" bash -c "curl -s http://127.0.0.1:$SURVIVOR_PORT/r/$DEMO_HANDLE/scaled | grep 'v1' >/dev/null"

check_summary "e2e scaleout" "$DIR/log/appview-a.log" "$DIR/log/appview-b.log" "$DIR/log/haproxy.log"
