#!/usr/bin/env bash
# Puts Debian's redis-server behind Grapevine's ACL users (users.acl.template beside this
# script): the default user off, a random password per user generated once and kept in a
# 0600 file, the ACL file holding SHA-256 hashes only (0600, owned by redis), protected
# mode on and the append-only file synced every second. Safe to run again: passwords are
# kept, files are rewritten only when they change, and no password is ever printed or put
# on a command line. Restarts redis-server when it runs under systemd and something changed.
#
#   setup-redis-acl.sh [--redis-conf FILE] [--secrets-dir DIR] [--no-restart]
set -euo pipefail

readonly TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/users.acl.template"
readonly USERS=(coordinator agent relay admin)
readonly PASSWORD_BYTES=32
readonly ANSWER_WAIT_SECONDS=30

redis_conf=/etc/redis/redis.conf
secrets_dir=/etc/grapevine
restart=true

say() { printf 'redis-acl: %s\n' "$*"; }
die() {
  printf 'redis-acl: error: %s\n' "$*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --redis-conf) redis_conf="${2:?--redis-conf needs a file}"; shift 2 ;;
    --secrets-dir) secrets_dir="${2:?--secrets-dir needs a folder}"; shift 2 ;;
    --no-restart) restart=false; shift ;;
    *) die "unknown argument '$1' (accepted: --redis-conf FILE, --secrets-dir DIR, --no-restart)" ;;
  esac
done

[[ -f "$TEMPLATE" ]] || die "the users' rules are missing: $TEMPLATE"
[[ -f "$redis_conf" ]] || die "no Redis config at $redis_conf: is redis-server installed? (or pass --redis-conf FILE)"
conf_dir="$(dirname -- "$redis_conf")"
readonly passwords_file="$secrets_dir/redis-users.env"
readonly acl_file="$conf_dir/grapevine-users.acl"
readonly include_file="$conf_dir/grapevine.conf"
# Everything this script writes is readable by its owner only, unless it says otherwise.
umask 077

# Redis refuses to start with users both in its config and in an ACL file.
if grep -Eq '^[[:space:]]*(user|requirepass)[[:space:]]' "$redis_conf"; then
  die "$redis_conf defines users or requirepass itself; remove those lines, the users live in $acl_file"
fi

variable_of() { printf 'GRAPEVINE_REDIS_PASSWORD_%s' "${1^^}"; }

# name -> password, from the passwords file when it exists; missing users get a new one.
declare -A password=()
if [[ -f "$passwords_file" ]]; then
  while IFS='=' read -r name value; do
    for user in "${USERS[@]}"; do
      if [[ "$name" == "$(variable_of "$user")" && -n "$value" ]]; then password[$user]="$value"; fi
    done
  done <"$passwords_file"
fi
generated=()
for user in "${USERS[@]}"; do
  if [[ -z "${password[$user]:-}" ]]; then
    password[$user]="$(od -An -vtx1 -N"$PASSWORD_BYTES" /dev/urandom | tr -d ' \n')"
    [[ ${#password[$user]} -eq $((PASSWORD_BYTES * 2)) ]] || die "could not read $PASSWORD_BYTES random bytes from /dev/urandom"
    generated+=("$user")
  fi
done

# Writes stdin to $1 with mode $2 (and owner $3 when given), replacing it only when it differs; true if it changed.
install_if_changed() {
  local target="$1" mode="$2" owner="${3:-}" next
  next="$(mktemp "$target.XXXXXX")"
  cat >"$next"
  chmod "$mode" "$next"
  if [[ -n "$owner" ]]; then chown "$owner" "$next"; fi
  if [[ -f "$target" ]] && cmp -s "$next" "$target" && [[ "$(stat -c '%a %U:%G' "$target")" == "$(stat -c '%a %U:%G' "$next")" ]]; then
    rm -f -- "$next"
    return 1
  fi
  mv -f -- "$next" "$target"
}

mkdir -p -- "$secrets_dir"
chmod 0700 "$secrets_dir"
if [[ ${#generated[@]} -gt 0 ]]; then
  for user in "${USERS[@]}"; do printf '%s=%s\n' "$(variable_of "$user")" "${password[$user]}"; done |
    install_if_changed "$passwords_file" 0600 || true
  say "passwords: generated for ${generated[*]}, kept in $passwords_file (0600)"
else
  say "passwords: kept from $passwords_file"
fi

sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The ACL file: each user's line gains `on #<sha256>` after its name; default stays off.
acl_text() {
  local word name rest
  while read -r word name rest; do
    [[ -z "$word" || "$word" == \#* ]] && continue
    [[ "$word" == user ]] || die "$TEMPLATE: not a user line: $word $name $rest"
    if [[ "$name" == default ]]; then
      printf 'user default %s\n' "$rest"
    elif [[ -n "${password[$name]:-}" ]]; then
      printf 'user %s on #%s %s\n' "$name" "$(sha256_of "${password[$name]}")" "$rest"
    else
      die "$TEMPLATE names a user this script does not know: $name"
    fi
  done <"$TEMPLATE"
}

owner=''
if id redis >/dev/null 2>&1; then owner='redis:redis'; fi
changed=false
acl="$(acl_text)"
if printf '%s\n' "$acl" | install_if_changed "$acl_file" 0600 "$owner"; then
  changed=true
  say "users: wrote $acl_file (0600, hashes only)"
else
  say "users: $acl_file already up to date"
fi

settings=(
  '# Written by provisioning/redis/setup-redis-acl.sh: Grapevine needs these; included last in redis.conf so they win.'
  "aclfile $acl_file"
  'protected-mode yes'
  'appendonly yes'
  'appendfsync everysec'
)
if printf '%s\n' "${settings[@]}" | install_if_changed "$include_file" 0644; then
  changed=true
  say "settings: wrote $include_file"
else
  say "settings: $include_file already up to date"
fi
if ! grep -Fxq "include $include_file" "$redis_conf"; then
  printf '\ninclude %s\n' "$include_file" >>"$redis_conf"
  changed=true
  say "settings: $redis_conf now includes $include_file"
fi

redis_answers() {
  local port
  port="$(awk '$1 == "port" { p = $2 } END { print p ? p : 6379 }' "$redis_conf")"
  [[ "$(REDISCLI_AUTH="${password[admin]}" timeout 5 redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" --user admin ping 2>/dev/null)" == PONG ]]
}

if [[ "$restart" == false ]]; then
  say "redis-server: not restarted (--no-restart)"
elif ! command -v systemctl >/dev/null 2>&1 || ! systemctl is-active --quiet redis-server.service; then
  say "redis-server: not running under systemd; it starts with these users"
elif [[ "$changed" == false ]] && redis_answers; then
  say "redis-server: already running with these users"
else
  systemctl restart redis-server.service || die "systemctl restart redis-server failed: see journalctl -u redis-server"
  deadline=$((SECONDS + ANSWER_WAIT_SECONDS))
  until redis_answers; do
    ((SECONDS < deadline)) || die "redis-server did not answer the admin user within ${ANSWER_WAIT_SECONDS}s after its restart: see journalctl -u redis-server"
    sleep 1
  done
  say "redis-server: restarted; the admin user is answered, the default user is off"
fi
