#!/usr/bin/env bash
# `npm run demo`: from a fresh clone, sets this machine up, brings up a local cluster of
# six production and three staging hosts, deploys v1, then v2 through staging (which
# promotes itself to production), shows the load balancer answering v2 from every host,
# then shows a broken release stopping itself, and removes the cluster again (pass --keep
# to leave it running, its dashboard with it). It prints the dashboard's URL and the file
# that holds the token to sign in with; each deploy can be watched there live. It calls the
# `grapevine` command as a user would: install.sh links the built CLI as /usr/local/bin/grapevine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep=false
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    *) printf 'demo: unknown argument %s (only --keep is accepted)\n' "$arg" >&2; exit 2 ;;
  esac
done

if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -E -- bash "${BASH_SOURCE[0]}" "$@"; fi
  printf 'demo: needs root (Docker engine, network namespaces), and sudo is not installed\n' >&2
  exit 2
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "setting up this machine (packages, Compose v2, Docker engine, images, the build, the grapevine command)"
bash provisioning/setup.sh
hash -r
if [[ "$(command -v grapevine || true)" != /usr/local/bin/grapevine ]]; then
  printf 'demo: grapevine is not on the PATH as /usr/local/bin/grapevine (PATH=%s)\n' "$PATH" >&2
  exit 1
fi

if grapevine dev status >/dev/null 2>&1; then
  step "removing the local cluster left from an earlier run"
  grapevine dev down
fi

step "bringing up the local cluster: registry, Redis, HAProxy, coordinator, 6 production and 3 staging hosts (staging runs blue and green), 4 mobile hosts in clusters red and white"
grapevine dev up --hosts 6 --staging 3 --start-delay 0.5 --blue-green staging --red-white 4
if [[ "$keep" == false ]]; then trap 'printf "\n"; grapevine dev down' EXIT; fi

status_json="$(grapevine --json dev status)"
field() { node -e 'const s = JSON.parse(process.argv[1]); console.log(process.argv[2].split(".").reduce((o, k) => o[k], s))' "$status_json" "$1"; }
lb="$(field lbUrl)"
staging_lb="$(field stagingLbUrl)"
mobile_lb="$(field routedLbUrl)"
dashboard="$(field coordinatorUrl)/ui"
secrets="$(field secretsFile)"
# The token and the other secrets stay out of this output (and any CI log of it): they are
# in a 0600 file that `dev status` names.
# shellcheck disable=SC1090  # written by `grapevine dev up`
source "$secrets"

# The URL and where the token is; never the token itself (this output may end up in a CI log).
step "the dashboard: open $dashboard in a browser on this machine"
printf 'Sign in with the operator token in %s (its GRAPEVINE_TOKEN line, without the quotes),\nor, once that file is sourced, make one of your own: grapevine token create --scope viewer --name YOUR-NAME\n' "$secrets"

step "deploying web:v1 to production (at most 2 of 6 hosts at a time)"
grapevine deploy web --env production --tag v1 --wait

step "deploying web:v2 to staging; on success it promotes itself to production"
grapevine deploy web --env staging --tag v2 --wait
promoted="$(grapevine --json status | node -e 'const d = JSON.parse(require("fs").readFileSync(0, "utf8")).find((x) => x.promotedFrom); if (d) console.log(d.id)')"
if [[ -z "$promoted" ]]; then printf 'demo: the staging deploy did not promote itself\n' >&2; exit 1; fi
step "following the production deploy the promotion started ($promoted): live at $dashboard/deploys/$promoted"
grapevine status "$promoted" --wait

ask_lb() {
  local url="${1:-$lb}"
  step "asking the load balancer ($url) 18 times"
  for _ in $(seq 1 18); do curl -fsS --max-time 5 "$url/"; done | sort | uniq -c
}
ask_lb

step "deploying web:bad (its health check fails): at its health deadline (about 30 s here) the first host to fail marks it broken, the hosts still waiting stand down"
if grapevine deploy web --env production --tag bad --wait; then
  printf 'demo: the broken release was not stopped\n' >&2
  exit 1
fi
ask_lb
step "deploying web:bad again is refused"
grapevine deploy web --env production --tag bad || true

step "a canary of web:v3-errors (healthy, but about 30 % of its answers are 5xx) under a stream of requests: the analysis stops it on the canary hosts alone"
grapevine dev traffic --env production --rate 40 --for 90 >/dev/null &
traffic_pid=$!
if grapevine deploy web --env production --tag v3-errors --strategy canary --wait; then
  printf 'demo: the canary analysis did not stop web:v3-errors\n' >&2
  exit 1
fi
latest_of() { grapevine --json status | node -e 'const [tag, key] = process.argv.slice(1); const d = JSON.parse(require("fs").readFileSync(0, "utf8")).find((x) => x[key] === tag); if (d) console.log(d.id)' "$1" "$2"; }
grapevine canary report "$(latest_of v3-errors tag)" || true
step "the quarantine takes the canary hosts back to the tag they ran"
rollback=""
for _ in $(seq 1 30); do
  rollback="$(latest_of v3-errors rollbackOf)"
  [[ -n "$rollback" ]] && break
  sleep 1
done
if [[ -z "$rollback" ]]; then printf 'demo: no quarantine rollback of the canary hosts\n' >&2; exit 1; fi
grapevine status "$rollback" --wait
kill "$traffic_pid" 2>/dev/null || true
wait "$traffic_pid" 2>/dev/null || true
ask_lb

step "blue/green on staging: web:v3-slow starts on the idle colour of every host while the live colour serves, then the whole group switches at once"
ask_lb "$staging_lb"
grapevine deploy web --env staging --tag v3-slow --strategy blue-green --wait
ask_lb "$staging_lb"
step "v3-slow answers late: switching staging back to the colour it left, which still runs"
grapevine switch web --env staging
ask_lb "$staging_lb"

step "red-white: mobile's cluster red (m1, m2) runs web:v1, its cluster white (m3, m4) web:v2, each deployed alone"
grapevine deploy web --env mobile --tag v1 --cluster red --wait
grapevine deploy web --env mobile --tag v2 --cluster white --wait
step "routing clients of version 1.1 and later to white; older clients and those without a version stay on red"
grapevine route set web --env mobile --client '>=1.1' --cluster white
grapevine route list web --env mobile
for version in 1.0 1.1; do
  step "asking $mobile_lb 6 times as a client of version $version (X-Client-Version: $version)"
  for _ in $(seq 1 6); do curl -fsS --max-time 5 -H "X-Client-Version: $version" "$mobile_lb/"; done | sort | uniq -c
done
step "requests per cluster, from HAProxy's own log"
grapevine route usage web --env mobile --window 5m

if [[ "$keep" == true ]]; then
  step "the cluster keeps running; see it with: grapevine dev status; remove it with: grapevine dev down"
  printf 'Its dashboard stays open at %s (sign in with the token in %s).\n' "$dashboard" "$secrets"
fi
