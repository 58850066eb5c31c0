#!/usr/bin/env bash
# Builds the local Debian base image that every Grapevine image is built FROM, since no
# image can be pulled from a public registry: debootstrap a minimal bookworm root file
# system (with busybox) and import it. Does nothing when the image already exists.
# Usage: base-image.sh [IMAGE]   (default grapevine-base:bookworm)
set -euo pipefail

readonly IMAGE="${1:-grapevine-base:bookworm}"
readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian

ROOT_DIR=''
LOG_FILE=''

say() { printf 'base-image: %s\n' "$*"; }
die() {
  printf 'base-image: error: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  if [[ -n "$LOG_FILE" ]]; then rm -f -- "$LOG_FILE"; fi
  [[ -n "$ROOT_DIR" && -d "$ROOT_DIR" ]] || return 0
  # A debootstrap that failed half-way can leave /proc or /sys mounted inside the tree;
  # unmount them (deepest first) so removing the tree never reaches the host's.
  local mounts
  mounts="$(awk -v root="$ROOT_DIR/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r)"
  if [[ -n "$mounts" ]]; then
    while IFS= read -r mount; do umount -l "$mount" 2>/dev/null || true; done <<<"$mounts"
  fi
  rm -rf --one-file-system -- "$ROOT_DIR"
}

if [[ $# -gt 1 ]]; then die "usage: base-image.sh [IMAGE]"; fi
# The image reference rule of shared/names.ts.
if [[ ! "$IMAGE" =~ ^[a-z0-9][a-z0-9._:/-]{0,254}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$ ]]; then
  die "'$IMAGE' is not an image name like grapevine-base:bookworm"
fi
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "${BASH_SOURCE[0]}" "$@"; fi
  die "must run as root (for debootstrap), and sudo is not installed: run it again as root"
fi
command -v docker >/dev/null 2>&1 || die "docker not found: run provisioning/install.sh first"
docker info >/dev/null 2>&1 || die "the docker engine does not answer: run provisioning/install.sh first"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE already exists"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found: run provisioning/install.sh first"

trap cleanup EXIT
# /var/tmp rather than /tmp: /tmp may be a small tmpfs, or mounted nodev.
ROOT_DIR="$(mktemp -d /var/tmp/grapevine-base.XXXXXX)"
LOG_FILE="$ROOT_DIR.log"
say "building $IMAGE: debootstrap $SUITE into $ROOT_DIR"
if ! debootstrap --variant=minbase --include=busybox "$SUITE" "$ROOT_DIR" "$MIRROR" >"$LOG_FILE" 2>&1; then
  tail -n 30 "$LOG_FILE" >&2 || true
  die "debootstrap failed"
fi
# Downloaded packages are not needed in the image.
rm -f -- "$ROOT_DIR"/var/cache/apt/archives/*.deb

say "importing $ROOT_DIR as $IMAGE"
id="$(tar --numeric-owner -C "$ROOT_DIR" -c . | docker import - "$IMAGE")" || die "docker import failed"
say "built $IMAGE ($id)"
