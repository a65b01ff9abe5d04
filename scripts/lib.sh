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
