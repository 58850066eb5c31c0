#!/bin/sh
# The sample app Grapevine deploys in tests and demos: answers GET / with its version and
# host name, and GET /healthz with "ok" only when the image was built healthy (and, with
# HEALTHY_FOR set, only for that many seconds after it starts serving). Built with
# APP_ERROR_PERCENT or APP_DELAY_MS (the v3-errors and v3-slow tags), GET / is a CGI script
# that answers 500 on about that share of requests, or that many ms late: a release that
# passes its health check and is still worse than its baseline, for the canary judge to catch.
set -eu

port="${PORT:-8080}"
delay="${START_DELAY:-0}"
case "$port" in
  '' | *[!0-9]*) echo "sample-app: PORT must be a port number, got '$port'" >&2; exit 64 ;;
esac
case "$delay" in
  '' | . | *[!0-9.]* | *.*.*) echo "sample-app: START_DELAY must be a number of seconds, got '$delay'" >&2; exit 64 ;;
esac
error_percent="${APP_ERROR_PERCENT:-0}"
case "$error_percent" in
  '' | *[!0-9]* | 0?*) echo "sample-app: APP_ERROR_PERCENT must be a whole percentage from 0 to 100, got '$error_percent'" >&2; exit 64 ;;
esac
if [ "$error_percent" -gt 100 ]; then
  echo "sample-app: APP_ERROR_PERCENT must be a whole percentage from 0 to 100, got '$error_percent'" >&2
  exit 64
fi
delay_ms="${APP_DELAY_MS:-0}"
case "$delay_ms" in
  '' | *[!0-9]* | 0?*) echo "sample-app: APP_DELAY_MS must be a whole number of milliseconds, got '$delay_ms'" >&2; exit 64 ;;
esac
if [ "${#delay_ms}" -gt 6 ]; then
  echo "sample-app: APP_DELAY_MS must be at most 999999 ms, got '$delay_ms'" >&2
  exit 64
fi
healthy_for="${HEALTHY_FOR:-}"
case "$healthy_for" in
  '') ;;
  *[!0-9.]* | . | *.*.*) echo "sample-app: HEALTHY_FOR must be a number of seconds, got '$healthy_for'" >&2; exit 64 ;;
esac

# This shell stays PID 1 and forwards SIGTERM: the kernel drops signals that PID 1 has no
# handler for, and httpd installs none, so an exec'd httpd would only die by SIGKILL.
child=''
on_stop() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit 0
}
trap on_stop TERM INT

# Backgrounded so that a stop during the delay is handled at once.
busybox sleep "$delay" &
child=$!
wait "$child"
child=''

# httpd runs /cgi-bin/index.cgi for / when there is no index.html. busybox's own shell runs it:
# $RANDOM, read and printf are its builtins, so an answer costs one exec (and the sleep), and
# v3-errors is no slower than a static page by much. The body is kept in a file beside the
# docroot so that no value but the two checked numbers is written into the script.
write_cgi() {
  cgi_root="$1"
  answer="$(mktemp)"
  printf '%s\n' "$2" >"$answer"
  mkdir -p "$cgi_root/cgi-bin"
  {
    echo '#!/bin/busybox sh'
    if [ "$delay_ms" -gt 0 ]; then echo "busybox usleep $((delay_ms * 1000))"; fi
    cat <<CGI
if [ \$((RANDOM % 100)) -lt $error_percent ]; then
  printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n'
else
  printf 'Content-Type: text/plain\r\n\r\n'
fi
IFS= read -r body <'$answer'
printf '%s\n' "\$body"
CGI
  } >"$cgi_root/cgi-bin/index.cgi"
  chmod 0755 "$cgi_root/cgi-bin/index.cgi"
}

host="${HOST_NAME:-$(busybox hostname)}"
docroot="$(mktemp -d)"
if [ "$error_percent" -eq 0 ] && [ "$delay_ms" -eq 0 ]; then
  printf '%s %s\n' "${APP_VERSION:-dev}" "$host" >"$docroot/index.html"
else
  write_cgi "$docroot" "$(printf '%s %s' "${APP_VERSION:-dev}" "$host")"
fi
if [ "${APP_HEALTHY:-true}" = true ]; then
  printf 'ok' >"$docroot/healthz"
fi

busybox httpd -f -p "$port" -h "$docroot" &
child=$!
if [ -n "$healthy_for" ] && [ -f "$docroot/healthz" ]; then
  # Turns unhealthy while it keeps serving: what a health gate's soak must catch.
  (busybox sleep "$healthy_for" && rm -f "$docroot/healthz") &
fi
wait "$child"
