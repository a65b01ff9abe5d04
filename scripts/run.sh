#!/usr/bin/env bash
# run.sh - the main job: install build deps, build atcr (build/), run the demo
# (build/examples/repo_demo builds a repository and prints its CID).
set -euo pipefail
LOG_TAG=run
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

bash scripts/setup-deps.sh
meson_setup build
meson compile -C build -j "${JOBS:-2}" || die "compile failed"
demo=build/examples/repo_demo
[ -x "$demo" ] || die "$demo was not built (examples/meson.build must define it)"
log "running $demo $*"
exec "$demo" "$@"
