#!/usr/bin/env bash
# req/s of (n0) nginx proxying alone and (n1) nginx + auth_request to the
# respond gate, back to back: examples/nginx/bench.sh (after make -f xcaddy.mk build).
# Not part of make test. Settings: BENCH_DURATION (10s), BENCH_ROUNDS (5),
# BENCH_CONNECTIONS (64), BENCH_THREADS (2), BENCH_WARMUP (3s), BENCH_QUIET_TIMEOUT (60).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x ./caddy ] || { echo "examples/nginx/bench.sh: ./caddy is missing: make -f xcaddy.mk build" >&2; exit 1; }
bash examples/recipes/deps.sh wrk
mkdir -p .build
go build -o .build/benchupstream ./cmd/benchupstream
exec /usr/bin/python3 examples/nginx/bench.py
