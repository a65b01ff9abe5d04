#!/usr/bin/env bash
# build-images.sh - builds the container images from the programs meson built:
#   atcr-appview, atcr-hold, atcr-scanner (Dockerfile.* at the repo's top) and
#   atcr-caddy (deploy/docker/Dockerfile.caddy, Debian's /usr/bin/caddy),
# each tagged :<version> and :latest, with the docker daemon DOCKER_HOST names.
#
#   deploy/docker/build-images.sh [BUILD_DIR] [IMAGE...]
#     BUILD_DIR  meson build dir with apps/ (default: build)
#     IMAGE      appview hold scanner caddy (default: all four)
# Each image's context is a root filesystem staged by stage.sh (the program,
# its shared libraries, CA certificates): nothing is pulled from a registry.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
shift || true
images=("$@")
((${#images[@]})) || images=(appview hold scanner caddy)
version="$("$BUILD/apps/atcr-appview" version | awk '{print $2}')"
work="$(mktemp -d /tmp/atcr-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

for image in "${images[@]}"; do
  case "$image" in
    appview | hold | scanner) prog="$BUILD/apps/atcr-$image" dockerfile="$ROOT/Dockerfile.$image" ;;
    caddy) prog="$(command -v caddy)" dockerfile="$HERE/Dockerfile.caddy" ;;
    *) echo "build-images.sh: unknown image $image (appview hold scanner caddy)" >&2; exit 2 ;;
  esac
  bash "$HERE/stage.sh" "$work/$image" "$prog"
  # The legacy builder: Debian's docker.io has no buildx, and FROM scratch
  # with COPY needs nothing more.
  DOCKER_BUILDKIT=0 docker build -f "$dockerfile" -t "atcr-$image:$version" -t "atcr-$image:latest" \
    "$work/$image" >"$work/$image.log" 2>&1 || { cat "$work/$image.log" >&2; exit 1; }
  echo "atcr-$image:$version"
done
