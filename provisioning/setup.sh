#!/usr/bin/env bash
# Everything this machine needs to build, test and demo Grapevine, each step a no-op when it
# is done already (about a second then): Debian packages, the Compose v2 plugin and a running
# Docker engine (install.sh), Chromium for the dashboard's test (install-test-tools.sh), the
# npm packages, the local base image, the sample app's images, the integration tests' images,
# the build, and the `grapevine` command on the PATH.
# `npm test` runs it first (pretest), `npm run demo` too, so both work from a fresh clone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -E -- bash "${BASH_SOURCE[0]}" "$@"; fi
  printf 'setup: needs root (Debian packages, the Docker engine), and sudo is not installed\n' >&2
  exit 2
fi

bash provisioning/install.sh
# Chromium for the dashboard's browser test: a test tool, not one of the fleet's packages.
bash provisioning/install-test-tools.sh
if [[ ! -d node_modules ]]; then npm ci --no-audit --no-fund; fi
bash provisioning/base-image.sh
bash provisioning/sample-app/build.sh grapevine-sample
bash provisioning/test-images/build.sh
npm run --silent build
# Once more now that the bundle exists: links it as /usr/local/bin/grapevine.
bash provisioning/install.sh
