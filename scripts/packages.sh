# Sourced by the scripts that need Debian packages (make test's steps, .ci/run).
# Only as root with apt-get: elsewhere they answer 1 and the caller skips what
# needs the package, saying so; an install that was tried and failed answers
# 2 (the caller fails). Never prompts; says what it installs.

# install_packages PKG...: installs them (one `apt-get update` per run).
install_packages() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  echo "==> apt-get install $*"
  local log
  log=$(mktemp)
  if { [ -n "${WHARF_APT_UPDATED:-}" ] || apt-get update -qq; } >"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1; then
    export WHARF_APT_UPDATED=1
    rm -f "$log"
    return 0
  fi
  cat "$log" >&2
  rm -f "$log"
  return 2
}

# have_or_install CMD... -- PKG...: true when every CMD is on PATH, after
# installing the PKGs if one was missing.
have_or_install() {
  local commands=() missing=0
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do commands+=("$1"); shift; done
  shift
  for command in "${commands[@]}"; do command -v "$command" >/dev/null || missing=1; done
  [ "$missing" = 0 ] && return 0
  install_packages "$@" || return
  for command in "${commands[@]}"; do command -v "$command" >/dev/null || return 2; done
}

# The exit status of a step that cannot run on this machine (as automake's
# test drivers read it): make test reports it SKIPPED, and fails under CI=true.
SKIP=77
