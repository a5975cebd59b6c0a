#!/usr/bin/env bash
# make console-check (part of make test): the web console in a real headless
# Chromium (Debian's chromium and chromium-driver, driven by Selenium from
# scripts/console_check.py) against moto, wharf-api and one wharf-worker.
# Installs chromium and chromium-driver when they are missing and this runs as
# root with apt-get; without them (and no root) it says why and exits 77
# (skipped), which make test reports as SKIPPED (and fails on under CI=true).
# CONSOLE_SCREENSHOTS=DIR keeps a screenshot of each page there
# (`make console-screenshots` writes docs/console/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/packages.sh
. scripts/packages.sh

installed=0
have_or_install chromium chromedriver -- chromium chromium-driver || installed=$?
case $installed in
  0) ;;
  1)
    echo "console-check: no chromium and chromedriver (as root: apt-get install chromium chromium-driver)"
    exit "$SKIP"
    ;;
  *) exit 1 ;;
esac

BIN=target/debug
STATE=target/console-check
# shellcheck source=scripts/local-stack.sh
. scripts/local-stack.sh

read_output=$("$BIN/wharf" admin token --scopes read)
READ_TOKEN=$(sed -n 's/^token: //p' <<<"$read_output")
EXTRA_API_TOKENS=$(sed -n 's/^WHARF_API_TOKENS=//p' <<<"$read_output")
export READ_TOKEN EXTRA_API_TOKENS
start_stack read,submit,admin

echo "==> one wharf-worker"
"$BIN/wharf-worker" --heartbeat-secs 1 --poll-wait-secs 1 \
  --http-listen 127.0.0.1:0 --labels site=console-check >"$STATE/worker.log" 2>&1 &
PIDS+=($!)

echo "==> the console in headless Chromium"
WHARF_BIN="$BIN/wharf" .venv-console/bin/python scripts/console_check.py
