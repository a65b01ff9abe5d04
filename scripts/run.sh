#!/usr/bin/env bash
# run.sh - the main job: install what is needed, build atcr, and bring up a
# local registry you can push to (scripts/registry.sh: the reference PDS with
# a demo account, a hold on the filesystem, the appview on 127.0.0.1:5000).
# It leaves them running and prints the commands to push and pull an image.
# `scripts/registry.sh stop` (and `scripts/pds.sh stop`) stops them.
set -euo pipefail
LOG_TAG=run
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

bash scripts/setup-deps.sh
meson_setup build
# Only the programs it runs (not the tests and benchmarks of the full build).
meson compile -C build -j "${JOBS:-2}" apps/atcr-hold apps/atcr-appview apps/docker-credential-atcr >&2 ||
  die "compile failed"

env_lines="$(bash scripts/registry.sh start)" || die "scripts/registry.sh start failed (above)"
eval "$env_lines"

# A small image, built offline, to push right away.
image="${ATCR_REGISTRY_DIR:-/tmp/atcr-registry-$(id -u)}/images/hello"
if [ ! -f "$image/index.json" ]; then
  python3 tests/e2e/mkimage.py "$image" --tag latest --layers 1M,2M >/dev/null
fi
name="$REGISTRY/$DEMO_HANDLE/hello"
log "pushing $image to $name:latest"
skopeo copy -q --dest-tls-verify=false --dest-creds "$DEMO_HANDLE:$DEMO_PASSWORD" \
  "oci:$image:latest" "docker://$name:latest" || die "the first push failed"

cat <<EOF

atcr is running: registry $REGISTRY (appview), hold $HOLD_URL ($HOLD_DID), PDS $PDS_URL.
Demo account: $DEMO_HANDLE (DID $DEMO_DID), password $DEMO_PASSWORD

Push and pull (plain HTTP on loopback, hence --tls-verify=false):
  skopeo copy --dest-tls-verify=false --dest-creds $DEMO_HANDLE:$DEMO_PASSWORD \\
      oci:$image:latest docker://$name:latest
  skopeo inspect --tls-verify=false docker://$name:latest
  podman pull --tls-verify=false $name:latest
  podman login --tls-verify=false -u $DEMO_HANDLE -p $DEMO_PASSWORD $REGISTRY
  podman push --tls-verify=false $name:latest $REGISTRY/$DEMO_HANDLE/copy:v1

The manifests live in $DEMO_HANDLE's PDS as io.atcr.manifest / io.atcr.tag records:
  curl -s '$PDS_URL/xrpc/com.atproto.repo.listRecords?repo=$DEMO_DID&collection=io.atcr.manifest'

Stop: bash scripts/registry.sh stop && bash scripts/pds.sh stop
EOF
