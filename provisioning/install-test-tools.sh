#!/usr/bin/env bash
# The tools the tests and the demo need beyond a fleet host's packages: Debian's `chromium`,
# the browser the dashboard's end-to-end test drives (through playwright-core, which brings
# no browser of its own), and a font for its screenshots. Never installed on fleet hosts:
# install.sh keeps their package list. Safe to run again: it only installs what is missing
# and prints one line. provisioning/setup.sh runs it, so `npm test` works from a fresh clone.
set -euo pipefail

readonly PACKAGES=(chromium fonts-dejavu-core)
readonly CHROMIUM=/usr/bin/chromium

say() { printf 'install-test-tools: %s\n' "$*"; }
die() {
  printf 'install-test-tools: error: %s\n' "$*" >&2
  exit 1
}

if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "${BASH_SOURCE[0]}" "$@"; fi
  die "must run as root (Debian packages), and sudo is not installed"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script sets up Debian machines"

is_installed() {
  local status
  # shellcheck disable=SC2016  # ${Status} is a dpkg-query format field, not a shell variable
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
  [[ "$status" == 'install ok installed' ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! is_installed "$pkg"; then missing+=("$pkg"); fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  say "${PACKAGES[*]}: already installed"
  exit 0
fi

say "installing ${missing[*]}"
log="$(mktemp /tmp/grapevine-test-tools.XXXXXX)"
trap 'rm -f -- "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# The same lock timeout as install.sh: another apt run (install.sh's, an unattended upgrade) may hold the lock.
if ! { apt-get -o DPkg::Lock::Timeout=120 update && apt-get -o DPkg::Lock::Timeout=120 install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2 || true
  die "apt-get could not install ${missing[*]}"
fi
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || die "package $pkg is still not installed after apt-get install"
done
[[ -x "$CHROMIUM" ]] || die "the chromium package left no $CHROMIUM"
say "installed ${missing[*]} ($CHROMIUM)"
