#!/usr/bin/env bash
# Prepares a Debian bookworm host for Grapevine: the Debian packages it relies on, the
# Compose v2 CLI plugin, a running Docker engine, and the `grapevine` command on the PATH
# (a link to this checkout's built CLI, once `npm run build` has made it). Safe to run
# again: it only acts on what is missing and prints one line per thing it did or found.
#
#   install.sh [--redis-acl]
#
# --redis-acl: on the machine whose Redis the fleet uses, put that redis-server behind
# Grapevine's ACL users (provisioning/redis/setup-redis-acl.sh). Behind a flag because a
# fleet has one Redis, not one per host this script prepares, and because CI and developer
# machines run it too, where the tests bring their own Redis and the machine's may serve others.
set -euo pipefail

# socat: provisioning/haproxy/save-servers.sh talks to HAProxy's runtime socket before a reload.
readonly PACKAGES=(
  serf docker.io docker-compose redis-server redis-sentinel haproxy docker-registry
  debootstrap iproute2 iptables curl ca-certificates ansible-core socat
)
readonly PLUGIN_DIR=/usr/libexec/docker/cli-plugins
readonly DOCKERD_LOG=/var/log/grapevine-dockerd.log
readonly DOCKERD_WAIT_SECONDS=60
readonly CLI_LINK=/usr/local/bin/grapevine
readonly SERF_KEY_FILE=/etc/grapevine/serf.key
# The unprivileged users the coordinator's and the load-balancer relay's systemd units run as
# (provisioning/systemd/); the agent runs as root, for Docker.
readonly SERVICE_USERS=(grapevine grapevine-relay)
CLI_BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/dist/bundle/main.js"
readonly CLI_BUNDLE
# Bookworm ships only Compose v1; trixie's docker-compose package is the v2 plugin.
readonly COMPOSE_SOURCE='deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main'

WORK_DIR=''

say() { printf 'install: %s\n' "$*"; }
die() {
  printf 'install: error: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  if [[ -n "$WORK_DIR" ]]; then rm -rf -- "$WORK_DIR"; fi
}

# Runs a command with its output kept in a log that is shown only when it fails, so a
# successful run stays at one line per step.
quietly() {
  local what="$1" log
  shift
  log="$WORK_DIR/step.log"
  if ! "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2 || true
    die "$what failed (command: $*)"
  fi
}

become_root() {
  if [[ "$(id -u)" -eq 0 ]]; then return; fi
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -- bash "${BASH_SOURCE[0]}" "$@"
  fi
  die "must run as root, and sudo is not installed: run it again as root"
}

check_debian() {
  local codename=''
  if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script sets up Debian hosts"
  if [[ "$codename" != bookworm ]]; then
    say "warning: written for Debian bookworm, this host is '${codename:-unknown}'"
  fi
}

is_installed() {
  local status
  # shellcheck disable=SC2016  # ${Status} is a dpkg-query format field, not a shell variable
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
  [[ "$status" == 'install ok installed' ]]
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    if ! is_installed "$pkg"; then missing+=("$pkg"); fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "packages: all ${#PACKAGES[@]} already installed"
    return
  fi
  say "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A lock timeout instead of failing at once when another apt run holds the lock.
  quietly 'apt-get update' apt-get -o DPkg::Lock::Timeout=120 update
  # Keep any configuration file already on the host rather than stopping to ask.
  quietly 'apt-get install' apt-get -o DPkg::Lock::Timeout=120 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    install -y --no-install-recommends "${missing[@]}"
  for pkg in "${missing[@]}"; do
    is_installed "$pkg" || die "package $pkg is still not installed after apt-get install"
  done
  say "packages: installed ${missing[*]}"
}

compose_v2_version() {
  docker compose version 2>/dev/null | head -n 1
}

# apt-get download writes to the current folder.
download_into() {
  local dest="$1"
  shift
  (cd "$dest" && apt-get "$@" download docker-compose)
}

install_compose_plugin() {
  local version
  command -v docker >/dev/null 2>&1 || die "docker CLI not found although docker.io is installed"
  if version="$(compose_v2_version)" && [[ -n "$version" ]]; then
    say "compose plugin: already in place ($version)"
    return
  fi
  say "compose plugin: missing, fetching the docker-compose package from Debian trixie"
  local dir
  dir="$WORK_DIR/compose"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/download" "$dir/root"
  printf '%s\n' "$COMPOSE_SOURCE" >"$dir/sources.list"
  # A private source list, index and cache: the host's own sources and packages stay as
  # they are, and only this one package is downloaded, never installed through apt.
  local apt_private=(
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache"
  )
  quietly 'apt-get update (trixie index)' apt-get "${apt_private[@]}" update
  quietly 'apt-get download docker-compose' download_into "$dir/download" "${apt_private[@]}"
  local debs=("$dir"/download/docker-compose_*.deb)
  [[ -f "${debs[0]}" ]] || die "apt-get download left no docker-compose package in $dir/download"
  quietly 'unpacking docker-compose' dpkg -x "${debs[0]}" "$dir/root"
  local plugin="$dir/root/usr/libexec/docker/cli-plugins/docker-compose"
  [[ -f "$plugin" ]] || die "the trixie docker-compose package holds no usr/libexec/docker/cli-plugins/docker-compose"
  install -D -m 0755 "$plugin" "$PLUGIN_DIR/docker-compose"
  version="$(compose_v2_version)" || true
  [[ -n "$version" ]] || die "installed $PLUGIN_DIR/docker-compose but 'docker compose version' still fails"
  say "compose plugin: installed $PLUGIN_DIR/docker-compose ($version)"
}

docker_answers() {
  timeout 10 docker info >/dev/null 2>&1
}

start_docker() {
  local started=''
  if docker_answers; then
    say "docker engine: already running (server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
    return
  fi
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "docker engine: dockerd process found but not answering yet, waiting"
  elif [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    say "docker engine: starting docker.service"
    quietly 'systemctl start docker' systemctl start docker.service
  else
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found although docker.io is installed"
    say "docker engine: starting dockerd in the background (log $DOCKERD_LOG)"
    # setsid: the daemon must outlive the shell or CI job that started it.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    started=$!
  fi
  local deadline=$((SECONDS + DOCKERD_WAIT_SECONDS))
  until docker_answers; do
    # Our own child may not have exec'd into dockerd yet, hence both checks.
    if ! kill -0 "$started" 2>/dev/null && ! pgrep -x dockerd >/dev/null 2>&1; then
      tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "dockerd exited before answering; see $DOCKERD_LOG"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "docker engine did not answer within ${DOCKERD_WAIT_SECONDS}s; see $DOCKERD_LOG"
    fi
    sleep 1
  done
  say "docker engine: running (server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
}

add_service_users() {
  local user
  for user in "${SERVICE_USERS[@]}"; do
    if getent passwd "$user" >/dev/null; then
      say "system user: $user already exists"
      continue
    fi
    # No home and no login shell: a service identity, never a person's account.
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
    say "system user: created $user"
  done
}

# The fleet's Serf gossip key, made once (serf keygen) and never printed. Every member needs
# the same key: on the other hosts, copy this file there (same owner and mode) before running
# this script, which then keeps it. root:grapevine 0640: the agent (root) and the
# coordinator's own user read it; the configs name it as serf.encryptKeyFile.
make_serf_key() {
  if [[ -s "$SERF_KEY_FILE" ]]; then
    say "serf key: already in $SERF_KEY_FILE"
    return
  fi
  install -d -m 0755 "$(dirname "$SERF_KEY_FILE")"
  local fresh
  fresh="$(mktemp "$SERF_KEY_FILE.XXXXXX")"
  # mktemp makes it 0600 and empty: the key is never readable by others, even for a moment.
  if ! serf keygen >"$fresh"; then
    rm -f -- "$fresh"
    die "serf keygen failed"
  fi
  chown root:grapevine "$fresh"
  chmod 0640 "$fresh"
  mv -f -- "$fresh" "$SERF_KEY_FILE"
  say "serf key: made $SERF_KEY_FILE (root:grapevine 0640); copy this same file to every host of the fleet and the coordinator"
}

# A link, not a copy: the bundle loads its chunks and Lua scripts from beside itself, and a
# later `npm run build` is picked up without running this again.
link_cli() {
  if [[ ! -f "$CLI_BUNDLE" ]]; then
    say "grapevine command: not built yet ($CLI_BUNDLE is missing); run \`npm run build\`, then this script again"
    return
  fi
  chmod 0755 "$CLI_BUNDLE"
  if [[ "$(readlink -- "$CLI_LINK" 2>/dev/null || true)" == "$CLI_BUNDLE" ]]; then
    say "grapevine command: already $CLI_LINK -> $CLI_BUNDLE"
    return
  fi
  if [[ -e "$CLI_LINK" && ! -L "$CLI_LINK" ]]; then
    die "$CLI_LINK exists and is not a link: move it away, then run this script again"
  fi
  ln -sfn -- "$CLI_BUNDLE" "$CLI_LINK"
  say "grapevine command: linked $CLI_LINK -> $CLI_BUNDLE"
}

redis_acl=false

parse_args() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      --redis-acl) redis_acl=true ;;
      *) die "unknown argument '$arg' (accepted: --redis-acl)" ;;
    esac
  done
}

setup_redis_acl() {
  if [[ "$redis_acl" == false ]]; then return; fi
  bash "$(dirname "${BASH_SOURCE[0]}")/redis/setup-redis-acl.sh"
}

main() {
  become_root "$@"
  parse_args "$@"
  trap cleanup EXIT
  WORK_DIR="$(mktemp -d /tmp/grapevine-install.XXXXXX)"
  check_debian
  install_packages
  install_compose_plugin
  start_docker
  add_service_users
  make_serf_key
  link_cli
  setup_redis_acl
  say "done"
}

main "$@"
