#!/usr/bin/env bash
# Runs oauth-jose.mjs (the `jose` npm package checking atcr::oauth's DPoP
# proofs, client metadata and client assertions) with the Node toolchain of
# scripts/node-tools.sh.   oauth_jose_test.sh <oauth_jose_tool>
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$(bash "$here/../../scripts/node-tools.sh")"
exec "$ATCR_NODE" "$here/oauth-jose.mjs" "$1"
