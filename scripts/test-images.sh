#!/usr/bin/env bash
# make test-images: builds wharf-test-busybox:latest, the image the container
# tests and the demo's container sample run: Debian's static busybox on an
# empty root (worker-host/tests/images/busybox), no registry needed. Installs
# busybox-static when it is missing and this runs as root with apt-get.
# Exits 77 (skipped), saying why, when it cannot: no Docker engine answers, or
# no static busybox and no root with apt-get; 1 when an install or the build
# fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/packages.sh
. scripts/packages.sh

IMAGE=wharf-test-busybox:latest
if ! answer=$(docker info 2>&1 >/dev/null); then
  echo "no Docker engine answers ($(tail -n 1 <<<"$answer")): cannot build $IMAGE"
  exit "$SKIP"
fi
# A static busybox, which runs on an empty root (Debian's busybox package is
# dynamic; busybox-static replaces it).
static_busybox() {
  local found
  found=$(command -v busybox) && ! ldd "$found" >/dev/null 2>&1 && echo "$found"
}
busybox=$(static_busybox || true)
if [ -z "$busybox" ]; then
  installed=0
  install_packages busybox-static || installed=$?
  [ "$installed" != 2 ] || exit 1
  busybox=$(static_busybox || true)
fi
if [ -z "$busybox" ]; then
  echo "no static busybox (as root: apt-get install busybox-static): cannot build $IMAGE"
  exit "$SKIP"
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$busybox" worker-host/tests/images/busybox/Dockerfile "$context/"
if ! docker build --quiet --tag "$IMAGE" "$context" >"$context/build.log" 2>&1; then
  cat "$context/build.log" >&2
  exit 1
fi
echo "built $IMAGE"
