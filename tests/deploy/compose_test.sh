#!/usr/bin/env bash
# compose_test.sh - the container images and deploy/docker-compose.yml, for
# real: the images are built (deploy/docker/build-images.sh) with a dockerd of
# our own (--iptables=false --bridge=none, its own roots and socket), the
# compose stack (Caddy with its local CA in front of a hold and the AppView,
# host networking on free loopback ports) comes up from the .env templates,
# and skopeo pushes and pulls an image through Caddy over TLS, trusting only
# Caddy's root (--cert-dir); the layers come back byte for byte. The PDS and
# PLC directory are the reference ones (scripts/pds.sh) on the host.
#
#   1. build the four images (FROM scratch; each runs as uid 10001)
#   2. caddy + hold up; the hold registers its did:plc; the AppView is given it
#   3. docker reports both healthy (HEALTHCHECK = the healthcheck subcommand)
#   4. push, pull, bytes compared; the hold's blobs are in its volume; the
#      scanner (docker-compose.scanner.yml) scans the push through Caddy
#   5. an upgrade: hold and AppView recreated on their volumes; same DID, the
#      image still pulls byte for byte; no config warnings from ATCR's names
#   6. docker-compose down -v, dockerd stopped, scratch removed
# Env: ATCR_BUILD (the build dir with apps/), set by meson; ATCR_PLC_PORT,
# ATCR_PDS_PORT, ATCR_PDS_DIR as for scripts/pds.sh.
set -uo pipefail
LOG_TAG=e2e-compose
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_workdir cp dockerd docker docker-compose caddy skopeo python3 curl  # short: dockerd's socket path must fit sun_path
P=atcrdeploy$$
compose() { (cd "$W/deploy" && docker-compose -p "$P" "$@"); }
e2e_stop() {
  if [ -S "$W/d/sock" ]; then
    compose logs --no-color >"$W/compose.log" 2>&1 || true
    [ "$fail" = 0 ] || tail -n 60 "$W/compose.log"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  stop_daemon "$W" dockerd dockerd
  umount "$W"/d/exec/netns/* 2>/dev/null  # dockerd leaves its netns mounted
}

APPVIEW_PORT="$(free_port)" HOLD_PORT="$(free_port)" REG_TLS="$(free_port)" HOLD_TLS="$(free_port)" HTTP_PORT="$(free_port)"
REG="localhost:$REG_TLS"

# --- the reference PDS on the host, an account ------------------------------------
HANDLE="$(fresh_handle cp)"
PASSWORD="pw-$RANDOM$RANDOM"
pds_env="$(PDS_TEST_ACCOUNTS="$HANDLE:$PASSWORD" bash "$REPO_ROOT/scripts/pds.sh" start)" || die "scripts/pds.sh start failed"
PDS_URL="$(sed -n 's/^PDS_URL=//p' <<<"$pds_env")"
PLC_URL="$(sed -n 's/^PLC_URL=//p' <<<"$pds_env")"
DID="$(curl -sf "$PDS_URL/xrpc/com.atproto.identity.resolveHandle?handle=$HANDLE" | sed -n 's/.*"did":"\([^"]*\)".*/\1/p')"
[ -n "$DID" ] || die "cannot resolve $HANDLE on $PDS_URL"

# --- a dockerd of our own ------------------------------------------------------------
mkdir -p "$W/d"
spawn_daemon "$W" dockerd dockerd --iptables=false --bridge=none --storage-driver vfs \
  --data-root "$W/d/data" --exec-root "$W/d/exec" --pidfile "$W/d/pid" -H "unix://$W/d/sock"
export DOCKER_HOST="unix://$W/d/sock"
wait_until 60 "dockerd" "$W" dockerd docker version

same() { [ "$1" = "$2" ] || { echo "mismatch: '$1' != '$2'"; return 1; }; }

t0=$SECONDS
t "build the images (appview, hold, scanner, caddy)" bash "$REPO_ROOT/deploy/docker/build-images.sh" "$ATCR_BUILD"
echo "images built in $((SECONDS - t0))s"
t "  they run their programs (loader, libraries)" bash -c "
  docker run --rm --network host atcr-appview:latest version && docker run --rm --network host atcr-hold:latest --help >/dev/null &&
  docker run --rm --network host atcr-caddy:latest version &&
  { docker run --rm --network host atcr-scanner:latest; [ \$? = 78 ]; }"
t "  as uid 10001, each" bash -c "for i in appview hold scanner caddy; do
  [ \"\$(docker inspect -f '{{.Config.User}}' atcr-\$i:latest)\" = 10001:10001 ] || { echo atcr-\$i; exit 1; }; done"
t "  FROM scratch: no shell inside" bash -c "! docker run --rm --network host --entrypoint /bin/sh atcr-hold:latest -c true"

# --- the deploy dir, configured as an operator would ----------------------------------
cp -r "$REPO_ROOT/deploy" "$W/deploy"
rm -rf "$W/deploy/docker" "$W/deploy/systemd"
cd "$W/deploy"
# setenv FILE KEY VALUE: replaces KEY's line of an env template, or appends it.
setenv() {
  if grep -q "^#\?$2=" "$1"; then sed -i "s|^#\?$2=.*|$2=$3|" "$1"; else echo "$2=$3" >>"$1"; fi
}
cp .env.example .env
cp .env.hold.example .env.hold
cp .env.appview.example .env.appview
setenv .env REGISTRY_SITE "https://$REG"
setenv .env HOLD_SITE "https://localhost:$HOLD_TLS"
setenv .env REGISTRY_UPSTREAM "127.0.0.1:$APPVIEW_PORT"
setenv .env HOLD_UPSTREAM "127.0.0.1:$HOLD_PORT"
setenv .env CADDY_HTTP_PORT "$HTTP_PORT"
setenv .env ATCR_CA_BUNDLE "$W/ca-bundle.crt"
setenv .env.hold HOLD_SERVER_ADDR "127.0.0.1:$HOLD_PORT"
setenv .env.hold HOLD_PUBLIC_URL "https://localhost:$HOLD_TLS"
setenv .env.hold HOLD_OWNER "$DID"
setenv .env.hold HOLD_ALLOW_ALL_CREW true
setenv .env.hold HOLD_DATABASE_PLC_DIRECTORY_URL "$PLC_URL"
# Loopback PDS and PLC over plain http: development mode.
setenv .env.hold HOLD_IDENTITY_DEVELOPMENT true
setenv .env.appview ATCR_HTTP_ADDR "127.0.0.1:$APPVIEW_PORT"
setenv .env.appview ATCR_SERVER_BASE_URL "https://$REG"
setenv .env.appview ATCR_IDENTITY_PLC_URL "$PLC_URL"
setenv .env.appview ATCR_IDENTITY_HANDLE_RESOLVER "$PDS_URL"
setenv .env.appview ATCR_IDENTITY_DEVELOPMENT true
setenv .env.appview ATCR_INDEX_BACKFILL false
# The scanner (docker-compose.scanner.yml) with the fixture OSV database.
SECRET="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
setenv .env.hold HOLD_SCANNER_SECRET "$SECRET"
setenv .env.hold HOLD_SCANNER_SCAN_ON_PUSH '*'
cp .env.scanner.example .env.scanner
setenv .env.scanner SCANNER_HOLD_URL "https://localhost:$HOLD_TLS"
setenv .env.scanner SCANNER_SHARED_SECRET "$SECRET"
setenv .env COMPOSE_FILE docker-compose.yml:docker-compose.scanner.yml
setenv .env SCANNER_OSV_ZIP "$W/osv.zip"
python3 - "$REPO_ROOT/tests/fixtures/scanner/osv" "$W/osv.zip" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(sys.argv[1])):
        z.write(os.path.join(sys.argv[1], name), "osv/" + name)
PY
cp /etc/ssl/certs/ca-certificates.crt "$W/ca-bundle.crt"  # until Caddy's root exists

health() { docker inspect -f '{{.State.Health.Status}}' "$(compose ps -q "$1")" 2>/dev/null; }
wait_healthy() {
  for _ in $(seq 90); do [ "$(health "$1")" = healthy ] && return 0; sleep 1; done
  echo "$1: $(health "$1")"; compose logs --no-color --tail 30 "$1"; return 1
}
# Caddy makes its CA at start; the hold and the AppView trust Debian's CAs plus its root.
caddy_root() {
  for _ in $(seq 60); do
    docker cp "$(compose ps -q caddy):/data/caddy/pki/authorities/local/root.crt" "$W/certs/ca.crt" 2>/dev/null && return 0
    sleep 0.5
  done
  compose logs --no-color caddy; return 1
}
mkdir -p "$W/certs"
t "compose up caddy" compose up -d caddy
t "  Caddy's local root CA" caddy_root
cat "$W/certs/ca.crt" >>"$W/ca-bundle.crt"
t "compose up hold" compose up -d hold
t "  healthy (its HEALTHCHECK)" wait_healthy hold
CURL=(curl -sf --cacert "$W/certs/ca.crt" --max-time 10)
HOLD_DID="$("${CURL[@]}" "https://localhost:$HOLD_TLS/xrpc/com.atproto.server.describeServer" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["did"])' 2>/dev/null)"
t "  its did:plc, through Caddy over TLS" bash -c "[[ '$HOLD_DID' == did:plc:* ]]"
setenv .env.appview ATCR_DEFAULT_HOLD_DID "$HOLD_DID"
t "compose up (the AppView, the scanner)" compose up -d
t "  healthy (its HEALTHCHECK)" wait_healthy appview
t "  /v2/ over TLS: 401 with a Bearer challenge" bash -c "
  curl -s --cacert $W/certs/ca.crt -D - -o /dev/null https://$REG/v2/ | tee /dev/stderr | grep -qi '^www-authenticate: Bearer'"
t "  plain http is not served on the TLS port" bash -c "! curl -sf --max-time 5 http://$REG/v2/"
t "  an untrusting client is refused" bash -c "! curl -s --max-time 5 https://$REG/v2/ -o /dev/null"
t "  the programs run as uid 10001" bash -c "for s in hold appview caddy; do
  pid=\$(docker inspect -f '{{.State.Pid}}' \$(cd $W/deploy && docker-compose -p $P ps -q \$s))
  grep -q '^Uid:\s*10001' /proc/\$pid/status || { echo \$s; grep Uid /proc/\$pid/status; exit 1; }; done"

loopback_only() {
  local p out
  for p in "$APPVIEW_PORT" "$HOLD_PORT" "$REG_TLS" "$HOLD_TLS"; do
    out="$(ss -Hltn "sport = :$p")"
    echo "$out"
    [ -n "$out" ] && ! grep -qv '127.0.0.1:' <<<"$out" || return 1
  done
}
t "  everything listens on 127.0.0.1 only" loopback_only

# --- push and pull through Caddy ---------------------------------------------------------
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img" --tag v1 --layers 1M,512K \
  --add-file "var/lib/dpkg/status=$REPO_ROOT/tests/fixtures/scanner/dpkg-status" >/dev/null
CREDS="$HANDLE:$PASSWORD"
t "skopeo push over TLS (Caddy's root in --dest-cert-dir)" \
  skopeo copy -q --dest-cert-dir "$W/certs" --dest-creds "$CREDS" "oci:$W/img:v1" "docker://$REG/$HANDLE/app:v1"
t "skopeo pull over TLS" \
  skopeo copy -q --src-cert-dir "$W/certs" --src-creds "$CREDS" "docker://$REG/$HANDLE/app:v1" "oci:$W/pulled:v1"
same_blobs() {
  local n=0 f
  for f in "$W/img/blobs/sha256/"*; do
    cmp "$f" "$W/pulled/blobs/sha256/$(basename "$f")" || return 1
    n=$((n + 1))
  done
  echo "$n blobs identical"
  ((n >= 4))  # two layers, the config, the manifest
}
t "  every blob byte for byte" same_blobs
# The scanner takes the push's job over wss:// through Caddy; the hold
# records the result (tests/e2e/scanner_test.sh checks the records in depth).
scanned() {
  local digest rkey
  digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:])' "$W/img")"
  for _ in $(seq 60); do
    "${CURL[@]}" "https://localhost:$HOLD_TLS/xrpc/com.atproto.repo.getRecord?repo=$HOLD_DID&collection=io.atcr.hold.scan&rkey=$digest" \
      >"$W/scan.json" 2>/dev/null && break
    sleep 1
  done
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["value"]; print(v)
assert v["status"] == "ok" and v["critical"] == 1 and v["total"] == 1, v' "$W/scan.json"
}
t "  the scanner's container scanned it (the fixture's CVE)" scanned
t "  the layers are in the hold's volume" bash -c "
  v=\$(docker volume inspect -f '{{.Mountpoint}}' ${P}_hold-data) &&
  for l in \$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(\" \".join(x[\"digest\"][7:] for x in m[\"layers\"]))' \
      \$(python3 -c 'import json,sys; print(sys.argv[1]+\"/blobs/sha256/\"+json.load(open(sys.argv[1]+\"/index.json\"))[\"manifests\"][0][\"digest\"][7:])' $W/img)); do
    find \$v -type f -exec sha256sum {} + | grep \$l >/dev/null || { echo no \$l in \$v; exit 1; }; done"
# An upgrade: new containers from the images, the same volumes.
t "recreate hold and appview (an upgrade)" compose up -d --force-recreate --no-deps hold appview
t "  the hold healthy again" wait_healthy hold
t "  the AppView healthy again" wait_healthy appview
t "  the hold kept its DID (keys in its volume)" bash -c "
  ${CURL[*]} https://localhost:$HOLD_TLS/xrpc/com.atproto.server.describeServer | grep -q '\"$HOLD_DID\"'"
t "  the image still pulls, byte for byte" bash -c "rm -rf $W/pulled &&
  skopeo copy -q --src-cert-dir $W/certs --src-creds '$CREDS' docker://$REG/$HANDLE/app:v1 oci:$W/pulled:v1"
t "  every blob byte for byte" same_blobs
compose logs --no-color hold appview scanner >"$W/programs.log" 2>&1
t "the ATCR-named templates start without a config warning" bash -c "
  grep -E 'warn|unknown|both' $W/programs.log; ! grep -qiE 'warn config|unknown environment|both .* are set' $W/programs.log"
t "compose down -v" compose down -v --remove-orphans

check_summary "e2e compose ($((SECONDS - t0))s)"
