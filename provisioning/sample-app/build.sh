#!/usr/bin/env bash
# Builds the sample app's images, REPOSITORY:v1, :v2, :bad (fails its health check),
# :v3-errors (healthy, answers 500 on about 30 % of GET /) and :v3-slow (healthy, answers
# GET / about 300 ms late) and :v4-flags (a Node app showing the `new-banner` feature flag, read
# from the coordinator over OFREP), and with --push pushes them. Builds the base image first when it is missing.
# Usage: build.sh REPOSITORY [--push]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly BASE_IMAGE=grapevine-base:bookworm

say() { printf 'sample-app: %s\n' "$*"; }
die() {
  printf 'sample-app: error: %s\n' "$*" >&2
  exit 1
}
usage() { die "usage: build.sh REPOSITORY [--push]   (REPOSITORY like 127.0.0.1:5000/web)"; }

[[ $# -ge 1 && $# -le 2 ]] || usage
readonly REPOSITORY="$1"
push=false
if [[ $# -eq 2 ]]; then
  [[ "$2" == --push ]] || usage
  push=true
fi
# Docker's repository grammar, lower case only: an optional registry host[:port]/ and
# path components separated by '/', each of a-z0-9 joined by '.', '_', '__' or dashes.
component='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
if [[ ! "$REPOSITORY" =~ ^([a-z0-9.-]+:[0-9]{1,5}/)?${component}(/${component})*$ ]] || [[ ${#REPOSITORY} -gt 200 ]]; then
  die "'$REPOSITORY' is not a repository name: use lower-case letters, digits, '.', '_', '-' and '/', with an optional host:port/ in front (no tag)"
fi

command -v docker >/dev/null 2>&1 || die "docker not found: run provisioning/install.sh first"
docker info >/dev/null 2>&1 || die "the docker engine does not answer: run provisioning/install.sh first"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  bash "$HERE/../base-image.sh" "$BASE_IMAGE"
fi

LOG_FILE="$(mktemp /tmp/grapevine-sample-build.XXXXXX)"
trap 'rm -f -- "$LOG_FILE"' EXIT

# Output is kept only to be shown when a step fails.
quietly() {
  local what="$1"
  shift
  if ! "$@" >"$LOG_FILE" 2>&1; then
    tail -n 30 "$LOG_FILE" >&2 || true
    die "$what failed"
  fi
}

# The tags, in the order dev-cluster/sample-app.ts lists them (SAMPLE_TAGS).
readonly TAGS=(v1 v2 bad v3-errors v3-slow v4-flags)

# A tag's answer body starts with the tag itself (`v3-errors h3`).
build() {
  local tag="$1" healthy="$2" error_percent="$3" delay_ms="$4"
  quietly "building $REPOSITORY:$tag" docker build --quiet \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "VERSION=$tag" \
    --build-arg "HEALTHY=$healthy" \
    --build-arg "ERROR_PERCENT=$error_percent" \
    --build-arg "DELAY_MS=$delay_ms" \
    --tag "$REPOSITORY:$tag" "$HERE"
  say "built $REPOSITORY:$tag ($(docker image inspect --format '{{.Id}}' "$REPOSITORY:$tag"))"
}

# v4-flags runs Node: its context is the app bundled into one file (esbuild, from the project's
# own node_modules) and this machine's node binary, which the base image's glibc runs.
build_flags() {
  local tag="$1" esbuild="$HERE/../../node_modules/.bin/esbuild" node_bin context
  [[ -x "$esbuild" ]] || die "esbuild not found at $esbuild: run npm install in the project first"
  node_bin="$(command -v node)" || die "node not found: the v4-flags tag copies this machine's node into its image"
  context="$(mktemp -d /tmp/grapevine-sample-flags.XXXXXX)"
  # shellcheck disable=SC2064 # the context's path is fixed now, and removed with the log file.
  trap "rm -rf -- '$context' '$LOG_FILE'" EXIT
  quietly "bundling the flags app" "$esbuild" "$HERE/flags-app/main.ts" --bundle --platform=node --format=cjs \
    --target=node20 --log-level=warning --outfile="$context/flags-app.js"
  cp -- "$(readlink -f "$node_bin")" "$context/node"
  quietly "building $REPOSITORY:$tag" docker build --quiet \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "VERSION=$tag" \
    --file "$HERE/Dockerfile.flags" \
    --tag "$REPOSITORY:$tag" "$context"
  say "built $REPOSITORY:$tag ($(docker image inspect --format '{{.Id}}' "$REPOSITORY:$tag"))"
}

for tag in "${TAGS[@]}"; do
  case "$tag" in
    v4-flags) build_flags "$tag" ;;
    bad) build "$tag" false 0 0 ;;
    v3-errors) build "$tag" true 30 0 ;;
    v3-slow) build "$tag" true 0 300 ;;
    *) build "$tag" true 0 0 ;;
  esac
done

if [[ "$push" == true ]]; then
  for tag in "${TAGS[@]}"; do
    quietly "pushing $REPOSITORY:$tag" docker push --quiet "$REPOSITORY:$tag"
    say "pushed $REPOSITORY:$tag"
  done
fi
