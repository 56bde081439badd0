#!/usr/bin/env bash
# The PHP example behind a real Caddy with caddy-wechat and a real php-fpm:
# forged X_Openid / X.Openid / X-Openid ... never reach $_SERVER['HTTP_X_OPENID'],
# the token's openid does. Usage: examples/php/test_through_caddy.sh ./caddy
# Needs what examples/deps.sh installs (php-fpm, python3-jwt, python3-cryptography).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 <caddy-binary>   (build it with: make -f xcaddy.mk build)" >&2
  exit 2
fi
# Debian's interpreter: it has python3-jwt and python3-cryptography for minting
# test assertions (a pyenv python3 on PATH does not).
exec /usr/bin/python3 "$(dirname "$0")/tests/through_caddy.py" "$1"
