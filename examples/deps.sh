#!/usr/bin/env bash
# Installs what the example backends' tests need, when it is missing:
#   Debian: php-fpm php-cli python3-flask python3-jwt python3-cryptography
#   npm:    examples/express/node_modules, from the committed package-lock.json (npm ci)
# Idempotent: prints nothing when everything is present, and what it installs
# otherwise. Needs root (or sudo) only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")"

debs=(php-fpm php-cli python3-flask python3-jwt python3-cryptography)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "examples/deps.sh: installing Debian packages: ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "examples/deps.sh: not root and no sudo; install ${missing[*]} by hand" >&2; exit 1; }
    sudo=(sudo)
  fi
  # php-fpm's postinst would start the system php-fpm service; the tests start
  # their own, so keep the system one from starting (the usual policy-rc.d
  # switch), unless the machine already has a policy.
  added_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  trap '[ -z "$added_policy" ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian 12's python3-jwt is PyJWT 2.6, which has EdDSA and ES256 (with
# python3-cryptography); check, so a broken install fails here and not in a test.
/usr/bin/python3 -c 'import flask, jwt, cryptography; assert {"EdDSA", "ES256"} <= set(jwt.api_jws.PyJWS().get_algorithms()), "PyJWT lacks EdDSA/ES256"' \
  || { echo "examples/deps.sh: /usr/bin/python3 cannot use flask, jwt (EdDSA, ES256) and cryptography" >&2; exit 1; }
php -r 'exit(function_exists("sodium_crypto_sign_verify_detached") && function_exists("openssl_verify") ? 0 : 1);' \
  || { echo "examples/deps.sh: php lacks sodium or openssl" >&2; exit 1; }

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f express/node_modules/.package-lock.json ] || [ express/package-lock.json -nt express/node_modules/.package-lock.json ]; then
  echo "examples/deps.sh: npm ci in examples/express"
  (cd express && npm ci --no-audit --no-fund --loglevel=error)
fi
