#!/usr/bin/env bash
# systemd_units_test.sh - deploy/systemd's units pass `systemd-analyze verify`
# (no warning either: an unknown or misspelt key is only a warning there),
# keep their hardening, and score as well as they do now in
# `systemd-analyze security --offline` (exposure at most 2.0, "OK").
# systemd need not be PID 1: both verbs read unit files only.
#
# verify insists that ExecStart's program exists and is executable: @bindir@
# is pointed at a directory of stand-ins (the test runs in the sanitizer
# build's unit suite too, which does not build the programs); the
# integration test install_programs checks that the installed units name
# the installed programs.
set -uo pipefail
LOG_TAG=systemd-units
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
e2e_workdir units systemd-analyze

units=(atcr-hold atcr-appview atcr-scanner)
mkdir -p "$W/bin"
for u in "${units[@]}"; do
  ln -s /bin/true "$W/bin/$u"
  sed -e "s#@bindir@#$W/bin#g" -e "s#@docdir@#$REPO_ROOT/docs#g" \
    "$REPO_ROOT/deploy/systemd/$u.service.in" >"$W/$u.service"
done

quiet_verify() {
  local out
  out="$(cd "$W" && systemd-analyze verify "$@" 2>&1)" || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "warnings: $out"; return 1; }
}
has_key() { grep -qxF -- "$2" "$W/$1.service" || { echo "$1.service lacks $2"; return 1; }; }
exposure_ok() {
  local line
  line="$(systemd-analyze security --offline=true "$W/$1.service" 2>&1 | tail -n 1)"
  echo "$line"
  python3 -c 'import re,sys; m=re.search(r"exposure level for \S+: ([0-9.]+)", sys.argv[1]); sys.exit(0 if m and float(m.group(1)) <= 2.0 else 1)' "$line"
}
bad_unit_fails() {
  sed 's/^ProtectSystem=strict/ProtectSystm=strict/' "$W/atcr-hold.service" >"$W/bad.service"
  ! quiet_verify bad.service
}

for u in "${units[@]}"; do
  check "$u.service: systemd-analyze verify, no warnings" quiet_verify "$u.service"
  for key in DynamicUser=yes ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes ProtectHome=yes \
    CapabilityBoundingSet= "StateDirectory=$u"; do
    check "  $key" has_key "$u" "$key"
  done
  check "  exposure <= 2.0 (systemd-analyze security --offline)" exposure_ok "$u"
done
check "a misspelt key is caught" bad_unit_fails

check_summary "systemd units"
