#!/bin/sh
# The sample app Grapevine deploys in tests and demos: answers GET / with its version and
# host name, and GET /healthz with "ok" only when the image was built healthy (and, with
# HEALTHY_FOR set, only for that many seconds after it starts serving).
set -eu

port="${PORT:-8080}"
delay="${START_DELAY:-0}"
case "$port" in
  '' | *[!0-9]*) echo "sample-app: PORT must be a port number, got '$port'" >&2; exit 64 ;;
esac
case "$delay" in
  '' | . | *[!0-9.]* | *.*.*) echo "sample-app: START_DELAY must be a number of seconds, got '$delay'" >&2; exit 64 ;;
esac
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

host="${HOST_NAME:-$(busybox hostname)}"
docroot="$(mktemp -d)"
printf '%s %s\n' "${APP_VERSION:-dev}" "$host" >"$docroot/index.html"
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
