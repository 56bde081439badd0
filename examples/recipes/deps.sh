#!/usr/bin/env bash
# Installs what the forward-auth recipe tests need, when it is missing:
#   Debian: nginx (the auth_request recipe), and what examples/deps.sh
#   installs (python3-jwt, python3-cryptography, python3-flask; npm ci in
#   examples/express) for the live-JWKS verifier tests.
# Idempotent: prints nothing when everything is present. Needs root (or
# sudo) only when a Debian package is missing. The tests run their own
# nginx as the current user; the system nginx service is never started.
# With an argument `wrk`, installs wrk too (for examples/nginx/bench.sh).
set -euo pipefail
cd "$(dirname "$0")"

bash ../deps.sh

debs=(nginx)
[ "${1:-}" = wrk ] && debs+=(wrk)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "examples/recipes/deps.sh: installing Debian packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "examples/recipes/deps.sh: not root and no sudo; install ${missing[*]} by hand" >&2; exit 1; }
  sudo=(sudo)
fi
# nginx's postinst would start the system nginx on port 80; the tests start
# their own on free ports, so keep the system one from starting (the usual
# policy-rc.d switch), unless the machine already has a policy.
added_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
  added_policy=1
fi
trap '[ -z "$added_policy" ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "examples/recipes/deps.sh: nginx is not installed after apt-get" >&2; exit 1; }
