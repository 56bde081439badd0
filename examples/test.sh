#!/usr/bin/env bash
# Runs every example test that needs no Caddy: Express (node:test), Flask
# (unittest, Debian's /usr/bin/python3) and the PHP routes and verifier
# (php-cli). Run examples/deps.sh first. Each suite runs even when an earlier
# one failed; the exit status is non-zero if any failed.
# The PHP example behind a real Caddy is examples/php/test_through_caddy.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
run() {
  local name=$1
  shift
  echo "== examples/test.sh: $name: $*"
  if "$@"; then
    echo "== examples/test.sh: $name: ok"
  else
    echo "== examples/test.sh: $name: FAILED (exit $?)" >&2
    failed+=("$name")
  fi
}

if [ ! -d examples/express/node_modules ]; then
  echo "examples/test.sh: examples/express/node_modules is missing: run examples/deps.sh" >&2
  failed+=("express (not installed)")
else
  run express node --test examples/express/
fi
run flask /usr/bin/python3 -m unittest discover -s examples/flask -v
run php php examples/php/tests/test_backend.php

if [ ${#failed[@]} -gt 0 ]; then
  echo "examples/test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "examples/test.sh: all example suites passed"
