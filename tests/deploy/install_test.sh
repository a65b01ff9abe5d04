#!/usr/bin/env bash
# install_test.sh - `meson install` into a DESTDIR puts the programs, their
# man pages (help2man, from --help), the systemd units (pointing at the
# installed programs, in the unit dir) and the deploy templates in place, and
# the installed programs run from there: --help, version, `config init`
# (the hold's and the AppView's show both spellings of a key), nothing
# linked from the build dir.
#   install_test.sh <build dir>
set -uo pipefail
LOG_TAG=install-programs
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
build="$(realpath "$1")"
e2e_workdir pinstall
dest="$W"

meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >"$dest/install.log" 2>&1 ||
  { cat "$dest/install.log"; die "meson install failed"; }
opt() { meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}[sys.argv[1]])' "$1"; }
prefix="$(opt prefix)"
bindir="$prefix/$(opt bindir)"
mandir="$prefix/$(opt mandir)"
unitdir="$(opt systemd_unit_dir)"
[ -n "$unitdir" ] || unitdir="$prefix/lib/systemd/system"
progs=(atcr-appview atcr-hold atcr-scanner docker-credential-atcr atcr)

no_build_paths() { ! readelf -d "$1" | grep -iE 'rpath|runpath' && ! ldd "$1" | grep -q "$build"; }
for p in "${progs[@]}"; do
  bin="$dest$bindir/$p"
  check "$p installed in $bindir" test -x "$bin"
  check "  runs from there: --help" bash -c "'$bin' --help | grep -qi usage"
  check "  nothing from the build dir (no rpath)" no_build_paths "$bin"
  check "  man page (help2man)" bash -c "grep -q '^\\.SH NAME' '$dest$mandir/man1/$p.1' && grep -q '^\\.SH DESCRIPTION' '$dest$mandir/man1/$p.1'"
done
cd "$dest"
check "atcr-hold config init (both spellings documented)" bash -c "
  '$dest$bindir/atcr-hold' config init hold.toml && grep -q 'server.addr / \$HOLD_SERVER_ADDR' hold.toml"
check "atcr-appview config init (both spellings documented)" bash -c "
  '$dest$bindir/atcr-appview' config init appview.toml && grep -q 'server.base_url / \$ATCR_SERVER_BASE_URL' appview.toml"
check "  and reads it back: healthcheck of nothing says unhealthy (1), not a config error" bash -c "
  ATCR_SERVER_PORT=1 ATCR_SERVER_DEFAULT_HOLD_DID=did:web:hold.example '$dest$bindir/atcr-appview' healthcheck --config appview.toml; [ \$? = 1 ]"
for u in atcr-hold atcr-appview atcr-scanner; do
  unit="$dest$unitdir/$u.service"
  check "$u.service in $unitdir" test -f "$unit"
  check "  ExecStart is the installed program" bash -c "
    exe=\$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' '$unit'); [ \"\$exe\" = '$bindir/$u' ] && [ -x '$dest'\"\$exe\" ]"
done
check "compose templates and docs/deploy.md under doc/atcr" bash -c "
  test -f '$dest$prefix/share/doc/atcr/deploy.md' && test -f '$dest$prefix/share/doc/atcr/deploy/docker-compose.yml' &&
  test -f '$dest$prefix/share/doc/atcr/deploy/.env.hold.example'"

check_summary "installed programs"
