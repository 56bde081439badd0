#!/usr/bin/env bash
# The forward-auth recipe tests and the live-JWKS verifier tests, against the
# built Caddy: examples/recipes/run.sh ./caddy   (make -f xcaddy.mk recipes)
#
#   nginx             examples/nginx (auth_request), Debian's nginx
#   caddy-forward-auth examples/caddy-forward-auth, a Caddy built without the plugin
#   live-verifiers    examples/express (jose) and examples/flask (PyJWT) against wechat_jwks
#   traefik           examples/traefik: examples/traefik/test.sh builds Traefik from
#                     source first (about 11 minutes the first time on a machine, about
#                     15 s once Go's build cache has it); RECIPES_TRAEFIK=0 leaves it out
#
# Installs what is missing (examples/recipes/deps.sh), builds the plain Caddy
# into .build/caddy-plain, runs every suite (each on free ports in its own
# temporary directory, stopped at the end) even when an earlier one failed,
# and prints each suite's time. Exit status non-zero if any failed.
set -uo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 <caddy-binary>   (build it with: make -f xcaddy.mk build)" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
export RECIPES_CADDY
RECIPES_CADDY=$(realpath "$1")
start=$(date +%s.%N)

bash examples/recipes/deps.sh || { echo "examples/recipes/run.sh: installing the dependencies failed" >&2; exit 1; }
mkdir -p .build
# A Caddy with no plugin, from this module's own Caddy dependency.
if ! go build -o .build/caddy-plain github.com/caddyserver/caddy/v2/cmd/caddy; then
  echo "examples/recipes/run.sh: building the plain Caddy failed" >&2
  exit 1
fi

failed=()
summary=()
suite() {
  local name=$1
  shift
  local t0 t1 rc
  echo "== recipes: $name: $*"
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc -eq 0 ]; then
    summary+=("$name: ok (${secs} s)")
  else
    summary+=("$name: FAILED, exit $rc (${secs} s)")
    failed+=("$name")
  fi
}

# Debian's interpreter: it has python3-jwt and python3-cryptography.
suite nginx /usr/bin/python3 examples/recipes/test_nginx.py
suite caddy-forward-auth env RECIPES_CADDY_PLAIN="$PWD/.build/caddy-plain" /usr/bin/python3 examples/recipes/test_caddy_forward_auth.py
suite live-verifiers /usr/bin/python3 examples/recipes/test_live_verifiers.py
if [ "${RECIPES_TRAEFIK:-1}" != 0 ]; then
  suite traefik bash examples/traefik/test.sh
fi

total=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
printf '== recipes: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "examples/recipes/run.sh: FAILED: ${failed[*]} (${total} s in all)" >&2
  exit 1
fi
echo "examples/recipes/run.sh: all recipe suites passed (${total} s in all)"
