#!/usr/bin/env bash
# make test: every test. The Rust tests of the workspace against moto (each
# starts its own) and, where a Docker engine answers, real containers; then
# schemathesis against a live API (scripts/api-check.sh) and the web console
# in headless Chromium (scripts/console-check.sh). What the machine cannot
# run (no Docker engine; no busybox or chromium, and no root with apt-get to
# install them) is left out, said at once and again at the end as SKIPPED;
# under CI=true it fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/packages.sh
. scripts/packages.sh

skipped=()
# skipped_or_failed STATUS WHAT: a step's status other than 0; a skip is noted.
skipped_or_failed() {
  if [ "$1" != "$SKIP" ]; then
    exit "$1"
  fi
  if [ -n "${CI:-}" ]; then
    echo "make test: $2 cannot run on this machine, and CI requires them" >&2
    exit 1
  fi
  echo "SKIPPED: $2"
  skipped+=("$2")
}

# The container tests are the binaries worker-host/tests/containers*.rs.
containers=yes
scripts/test-images.sh || { skipped_or_failed $? "container tests"; containers=; }

if cargo nextest --version >/dev/null 2>&1; then
  filter=()
  [ -n "$containers" ] || filter=(-E 'not binary(/^containers/)')
  cargo nextest run --no-fail-fast --workspace "${filter[@]}"
elif [ -n "$containers" ]; then
  cargo test --workspace
else
  # Plain cargo test cannot leave out one test binary: every package but the
  # worker's, then each of the worker's own but the container ones.
  cargo test --workspace --exclude wharf-worker-host
  others=()
  for file in worker-host/tests/*.rs; do
    name=$(basename "$file" .rs)
    case $name in containers*) ;; *) others+=(--test "$name") ;; esac
  done
  cargo test -p wharf-worker-host --lib --bins "${others[@]}"
fi

scripts/api-check.sh
scripts/console-check.sh || skipped_or_failed $? "console browser tests"

if [ "${#skipped[@]}" -gt 0 ]; then
  echo
  for what in "${skipped[@]}"; do echo "SKIPPED: $what (this machine cannot run them)"; done
  echo "make test: passed, but for what was SKIPPED"
else
  echo "make test: everything passed"
fi
