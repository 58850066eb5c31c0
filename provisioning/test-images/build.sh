#!/usr/bin/env bash
# Builds the integration tests' images (Redis, HAProxy, registry of docker-compose.test.yml)
# FROM the local base image, building that first when it is missing. The integration run's
# global setup (test/setup/test-infra.ts) runs this too, a cache hit when nothing changed; CI
# runs it as a step of its own so that a failed package download shows as one.
# Usage: build.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly ROOT="$HERE/../.."
readonly BASE_IMAGE=grapevine-base:bookworm

say() { printf 'test-images: %s\n' "$*"; }
die() {
  printf 'test-images: error: %s\n' "$*" >&2
  exit 1
}

[[ $# -eq 0 ]] || die "usage: build.sh   (takes no arguments)"
command -v docker >/dev/null 2>&1 || die "docker not found: run provisioning/install.sh first"
docker info >/dev/null 2>&1 || die "the docker engine does not answer: run provisioning/install.sh first"
docker compose version >/dev/null 2>&1 || die "the Compose v2 plugin is missing: run provisioning/install.sh first"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  bash "$HERE/../base-image.sh" "$BASE_IMAGE"
fi

LOG_FILE="$(mktemp /tmp/grapevine-test-images.XXXXXX)"
trap 'rm -f -- "$LOG_FILE"' EXIT

# Compose labels what it builds with the project name: one fixed name keeps a rebuild of
# unchanged files a cache hit with the same image id, whichever run asks for it.
compose=(docker compose --project-name gvinfra-test-images --project-directory "$ROOT" --file "$ROOT/docker-compose.test.yml")
started=$SECONDS
if ! "${compose[@]}" build >"$LOG_FILE" 2>&1; then
  tail -n 30 "$LOG_FILE" >&2 || true
  die "docker compose build failed (the package step needs Debian's archive, deb.debian.org)"
fi
# The images a changed Dockerfile replaced, unless a running test project still uses them.
docker image prune --force --filter label=com.docker.compose.project=gvinfra-test-images >/dev/null
mapfile -t images < <("${compose[@]}" config --images)
[[ ${#images[@]} -gt 0 ]] || die "docker-compose.test.yml names no images"
for image in "${images[@]}"; do
  say "built $image ($(docker image inspect --format '{{.Id}}' "$image"))"
done
say "done in $((SECONDS - started)) s"
