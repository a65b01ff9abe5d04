#!/usr/bin/env bash
# conformance_test.sh - tests/e2e/conformance.py (distribution-spec checks
# over HTTP) against a whole atcr stack from scripts/registry.sh: once with
# the hold on the filesystem, once on radosgw (S3), each with a fresh demo
# account so the records it checks are all this run's.
#
# Env: ATCR_BUILD (the build dir with apps/), set by meson. Ports and dirs:
# ATCR_E2E_APPVIEW_PORT, ATCR_E2E_HOLD_PORT, ATCR_E2E_DIR (as clients_test.sh;
# the e2e suite runs one test at a time). Then tests/e2e/validate-records.mjs
# checks every record written against the published lexicons.
set -uo pipefail
LOG_TAG=conformance
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-conformance"
e2e_workdir conformance python3

failed=0
for storage in filesystem s3; do
  echo "--- hold storage: $storage"
  export ATCR_HOLD_STORAGE="$storage" ATCR_DEMO_HANDLE="$(fresh_handle conf "${storage:0:2}")"
  e2e_start_stack --fresh
  python3 "$REPO_ROOT/tests/e2e/conformance.py" --registry "$REGISTRY" --user "$DEMO_HANDLE" \
    --password "$DEMO_PASSWORD" --pds "$PDS_URL" || failed=1
  if ((!failed)) && [ "$storage" = filesystem ]; then
    # The appview again, with blob deletion turned off (it inherits the env).
    stop_daemon "$ATCR_REGISTRY_DIR" appview atcr-appview
    ATCR_SERVER_BLOB_DELETE=false bash "$REPO_ROOT/scripts/registry.sh" start >/dev/null || die "restart failed"
    python3 "$REPO_ROOT/tests/e2e/conformance.py" --registry "$REGISTRY" --user "$DEMO_HANDLE" \
      --password "$DEMO_PASSWORD" --pds "$PDS_URL" --blob-delete-disabled || failed=1
  fi
  # Every record this run made, in the user's PDS and the hold, against the
  # published lexicons (tests/fixtures/lexicons), record keys included.
  if ((!failed)); then
    eval "$(bash "$REPO_ROOT/scripts/node-tools.sh")" || die "scripts/node-tools.sh failed"
    "$ATCR_NODE" "$REPO_ROOT/tests/e2e/validate-records.mjs" "$REPO_ROOT/tests/fixtures/lexicons" \
      "$PDS_URL" "$DEMO_DID" "$HOLD_URL" "$HOLD_DID" || failed=1
  fi
  if ((failed)); then
    echo "--- appview log (tail)"; tail -n 40 "$ATCR_REGISTRY_DIR/log/appview.log" 2>/dev/null
    echo "--- hold log (tail)"; tail -n 40 "$ATCR_REGISTRY_DIR/log/hold.log" 2>/dev/null
    exit 1
  fi
done
