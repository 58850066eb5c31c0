#!/usr/bin/env bash
# Saves the servers registered in a running HAProxy so that its next reload keeps them: the
# answer of `show servers state` becomes HAProxy's server-state file (ready, drain or
# maintenance, read back by `load-server-state-from-file`), and every `server` line inside the
# `backend` sections of the given config file is rewritten from it (a reloaded worker starts
# only with the servers its config declares; the runtime API's `add server` lasts one worker).
# Each saved server line carries the health checks an agent's `add server` gives it (below), so a
# reloaded worker keeps noticing an unreachable host.
# Run it right before each reload: the systemd drop-in beside it does, as does
# `grapevine dev chaos reload-haproxy`. It owns every `server` line of that file: keep
# hand-written servers in another file. Nothing is changed when HAProxy does not answer.
#
# Usage: save-servers.sh --socket /run/haproxy/admin.sock --state-file FILE --config FILE
set -euo pipefail

readonly SOCKET_TIMEOUT_SECONDS=5
readonly MARKER='# registered servers, saved from the runtime API before the last reload'
# The same options as SERVER_CHECK_OPTIONS in shared/haproxy/server-checks.ts, which says why each.
readonly SERVER_OPTIONS='check inter 1s fastinter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down'

die() {
  printf 'save-servers: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  die "usage: save-servers.sh --socket PATH --state-file FILE --config FILE"
}

socket='' state_file='' config=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    --socket) socket="${2:-}" ;;
    --state-file) state_file="${2:-}" ;;
    --config) config="${2:-}" ;;
    *) usage ;;
  esac
  shift 2 || usage
done
[[ -n "$socket" && -n "$state_file" && -n "$config" ]] || usage
command -v socat >/dev/null 2>&1 || die "socat is not installed (Debian package socat; provisioning/install.sh installs it)"
[[ -S "$socket" ]] || die "$socket is not a unix socket: is HAProxy running with 'stats socket $socket ... level admin'?"
[[ -f "$config" ]] || die "config file $config does not exist"
state_dir="$(dirname -- "$state_file")"
[[ -d "$state_dir" ]] || die "directory $state_dir of the state file does not exist"

work="$(mktemp -d "${TMPDIR:-/tmp}/grapevine-save-servers.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

printf 'show servers state\n' | socat -t "$SOCKET_TIMEOUT_SECONDS" -T "$SOCKET_TIMEOUT_SECONDS" - "UNIX-CONNECT:$socket" >"$work/state" ||
  die "HAProxy did not answer on $socket"
# Format version 1, then the column names; anything else is a refusal or an unknown format.
[[ "$(head -n 1 "$work/state")" == 1 ]] && head -n 2 "$work/state" | tail -n 1 | grep -q '^# be_id be_name ' ||
  die "HAProxy's answer to 'show servers state' is not a version 1 state dump: $(head -n 1 "$work/state")"

# One line per server, "backend name address", the address as a config line writes it.
awk '
  NR == 2 { for (i = 2; i <= NF; i++) column[$i] = i - 1; next }
  NR < 2 || /^#/ || NF == 0 { next }
  {
    addr = $column["srv_addr"]; port = $column["srv_port"]
    if (addr == "-" || addr == "" || port == "" || port == "0") {
      printf "save-servers: warning: %s/%s has no address and port, left out\n", $column["be_name"], $column["srv_name"] > "/dev/stderr"
      next
    }
    if (index(addr, ":") > 0) addr = "[" addr "]"
    print $column["be_name"], $column["srv_name"], addr ":" port
  }
' "$work/state" >"$work/servers"

# Drops every server line (and the marker) of each backend and writes the saved servers at the
# end of the section, after its default-server lines and before the blank lines that follow it.
awk -v marker="$MARKER" -v saved="$work/servers" -v options="$SERVER_OPTIONS" '
  BEGIN {
    while ((getline line < saved) > 0) {
      split(line, f, " ")
      servers[f[1]] = servers[f[1]] sprintf("  server %s %s %s\n", f[2], f[3], options)
    }
  }
  function close_section() {
    if (backend != "" && backend in servers) printf "%s\n%s", marker, servers[backend]
    printf "%s", blanks
    blanks = ""; backend = ""
  }
  /^[ \t]*(global|defaults|frontend|backend|listen|resolvers|peers|userlist|mailers|program|http-errors|ring|cache)([ \t]|$)/ {
    close_section()
    if ($1 == "backend") backend = $2
    print; next
  }
  backend != "" && ($1 == "server" || $0 == marker) { next }
  /^[ \t]*$/ { blanks = blanks $0 "\n"; next }
  { printf "%s", blanks; blanks = ""; print }
  END { close_section() }
' "$config" >"$work/config"

# Same directory, then rename: HAProxy never reads a half-written file.
tmp_state="$(mktemp "$state_file.XXXXXX")"
cp -- "$work/state" "$tmp_state" && chmod 0644 "$tmp_state" && mv -f -- "$tmp_state" "$state_file"
tmp_config="$(mktemp "$config.XXXXXX")"
cp -- "$work/config" "$tmp_config" && chmod --reference="$config" "$tmp_config" && mv -f -- "$tmp_config" "$config"
printf 'save-servers: saved %s server(s) into %s and %s\n' "$(wc -l <"$work/servers")" "$state_file" "$config"
