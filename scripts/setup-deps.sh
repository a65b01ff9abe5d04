#!/usr/bin/env bash
# setup-deps.sh - install, with apt, everything needed to build and test atcr
# on Debian 12. Idempotent: when every package is already installed it does
# not touch apt at all (a dpkg-query check, well under a second).
#
# This is the only place that installs system packages: scripts/test.sh,
# run.sh and registry.sh run it first, and no test or fixture script installs
# anything (parallel tests racing for the apt lock fail at random).
#
# Must run as root when something is missing. `setup-deps.sh --check` (used
# by scripts that tests run, e.g. registry.sh) only reports what is missing
# and fails if anything is. Env knobs:
#   ATCR_SKIP_APT=1   never call apt (same as --check)
set -euo pipefail

log() { echo "[setup-deps] $*" >&2; }
die() { echo "[setup-deps] ERROR: $*" >&2; exit 1; }

PACKAGES=(
  # build
  meson ninja-build pkg-config g++ cmake
  # clang + its runtime: libFuzzer, ASan/UBSan with clang
  clang libclang-rt-14-dev
  # libraries (pkg-config / headers)
  libcurl4-openssl-dev libcpp-httplib-dev libssl-dev libsqlite3-dev
  rapidjson-dev libtinyxml2-dev libtomlplusplus-dev libfmt-dev libsecp256k1-dev doctest-dev
  libboost1.81-dev
  # the web UI's markdown (READMEs)
  libcmark-gfm-dev libcmark-gfm-extensions-dev
  # the scanner reads image layers (tar, gzip, zstd) with libarchive
  libarchive-dev
  # tests and tooling: python3 runs test drivers; node/npm bootstrap
  # scripts/node-tools.sh (which fetches Node 22 from the npm registry)
  python3 nodejs npm curl ca-certificates iproute2
  # the Python bindings' tests and their pip install (bindings/python)
  python3-pytest python3-setuptools python3-wheel python3-pip python3-venv
  # the OAuth tests' CA and certificates (scripts/pds.sh, tests/e2e/oauth_test.sh)
  openssl
  # real OCI clients for the e2e suite and the quickstart
  skopeo podman buildah uidmap docker.io
  # the S3 fixture (scripts/s3.sh): Ceph's RADOS Gateway over a one-node cluster
  ceph-mon ceph-osd radosgw ceph-common
  # a real browser for the web UI tests
  chromium
  # deployment (tests/deploy): systemd-analyze verifies the units; the compose
  # stack (deploy/) runs under docker-compose behind Caddy
  systemd docker-compose caddy
  # man pages from the programs' --help (meson install)
  help2man
  # the scaled-out AppView: PostgreSQL (libpq; the server for tests, scripts/postgres.sh)
  # and haproxy in front of several instances (e2e scale-out, bench/scale-out.sh)
  libpq-dev postgresql-15 haproxy
)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" && continue
  # Some machines carry a nodejs build (e.g. NodeSource) that bundles npm and
  # conflicts with Debian's npm package: a working `npm` is good enough.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages present"
  exit 0
fi

log "missing: ${missing[*]}"
if [ "${ATCR_SKIP_APT:-0}" = 1 ] || [ "${1:-}" = --check ]; then
  die "missing packages; install them with: bash scripts/setup-deps.sh (as root)"
fi
[ "$(id -u)" = 0 ] || die "not root: install them with: apt-get install ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s)
log "apt-get update"
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || die "apt-get update failed"
log "apt-get install ${missing[*]}"
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || die "apt-get install failed"

for p in "${missing[@]}"; do
  installed "$p" || { [ "$p" = npm ] && command -v npm >/dev/null; } \
    || die "package $p still not installed"
done
log "installed ${#missing[@]} package(s) in $(($(date +%s) - t0))s"
