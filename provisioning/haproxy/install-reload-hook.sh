#!/usr/bin/env bash
# Sets up the load-balancer machine so that an HAProxy reload keeps the servers Grapevine's
# agents registered: the save script as /usr/local/sbin/grapevine-haproxy-save-servers, the
# systemd drop-in for haproxy.service, /etc/haproxy/grapevine.cfg from the example when it is
# missing, and an empty server-state file. Checks that haproxy.cfg reads the state file, and
# says what to add when it does not. Safe to run again; prints one line per thing it did.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly SAVE_SCRIPT=/usr/local/sbin/grapevine-haproxy-save-servers
readonly DROP_IN=/etc/systemd/system/haproxy.service.d/grapevine.conf
readonly BACKENDS=/etc/haproxy/grapevine.cfg
readonly MAIN_CONFIG=/etc/haproxy/haproxy.cfg
readonly STATE_FILE=/var/lib/haproxy/server-state

say() { printf 'haproxy reload hook: %s\n' "$*"; }
die() {
  printf 'haproxy reload hook: error: %s\n' "$*" >&2
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root"
command -v haproxy >/dev/null 2>&1 || die "haproxy is not installed (provisioning/install.sh installs it)"
command -v socat >/dev/null 2>&1 || die "socat is not installed (provisioning/install.sh installs it)"
[[ -f "$MAIN_CONFIG" ]] || die "$MAIN_CONFIG does not exist"

install -D -m 0755 "$HERE/save-servers.sh" "$SAVE_SCRIPT" && say "installed $SAVE_SCRIPT"
install -D -m 0644 "$HERE/haproxy-reload.conf" "$DROP_IN" && say "installed $DROP_IN"
if [[ -f "$BACKENDS" ]]; then
  say "kept $BACKENDS"
else
  install -D -m 0644 "$HERE/grapevine.cfg.example" "$BACKENDS" && say "wrote $BACKENDS from the example: name its backends as the agents' config does"
fi
if [[ ! -f "$STATE_FILE" ]]; then
  install -D -m 0644 /dev/null "$STATE_FILE" && say "created an empty $STATE_FILE"
fi
missing=()
grep -Eq "^[[:space:]]*server-state-file[[:space:]]+$STATE_FILE([[:space:]]|$)" "$MAIN_CONFIG" || missing+=("global: server-state-file $STATE_FILE")
grep -Eq '^[[:space:]]*load-server-state-from-file[[:space:]]+global' "$MAIN_CONFIG" || missing+=('defaults: load-server-state-from-file global')
grep -Eq '^[[:space:]]*stats socket /run/haproxy/admin.sock .*level admin' "$MAIN_CONFIG" || missing+=('global: stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners')
if [[ ${#missing[@]} -gt 0 ]]; then
  say "add to $MAIN_CONFIG, then run 'systemctl restart haproxy':"
  printf '  %s\n' "${missing[@]}"
fi
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload && say "systemd reloaded its units: 'systemctl reload haproxy' now saves the servers first"
fi
