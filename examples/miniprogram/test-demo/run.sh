#!/usr/bin/env bash
# Runs examples/miniprogram/test-demo/demo.test.js against the real demo.
#
#   examples/miniprogram/test-demo/run.sh <caddy-binary>
#   (build the binary with: make -f xcaddy.mk build)
#
# It copies the root Caddyfile with every port moved to a free one (edge,
# simulator, internal wechat_api, backend, and an admin endpoint), builds and
# starts the example Go backend, starts Caddy with temporary XDG dirs and the
# demo-only secret, runs the test with DEMO_EDGE and DEMO_MOCK set, and stops
# everything it started, also on failure. On failure it prints the logs.
# Needs: node 20, go, and the Caddy binary. BACKEND=<binary> skips the go build.
set -euo pipefail

usage="usage: $0 <caddy-binary>   (build it with: make -f xcaddy.mk build)"
caddy=${1:?$usage}
[ -f "$caddy" ] && [ -x "$caddy" ] || { echo "run.sh: '$caddy' is not an executable file. $usage" >&2; exit 2; }
caddy=$(cd "$(dirname "$caddy")" && pwd)/$(basename "$caddy")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

tmp=$(mktemp -d)
pids=()
ok=0
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$ok" != 1 ]; then
    for f in caddy.log backend.log; do
      [ -s "$tmp/$f" ] && { echo "---- $f (last 40 lines) ----" >&2; tail -n 40 "$tmp/$f" >&2; }
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Five free ports, held at once so they are distinct, then released.
read -r edge_port mock_port api_port backend_port admin_port < <(node -e '
  const net = require("node:net"); const held = [];
  for (let i = 0; i < 5; i++) {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      held.push(s);
      if (held.length === 5) { console.log(held.map((x) => x.address().port).join(" ")); held.forEach((x) => x.close()); }
    });
  }')
[ -n "${admin_port:-}" ] || { echo "run.sh: could not get free ports" >&2; exit 1; }

# The demo Caddyfile, moved to those ports.
sed -e "s#http://localhost:8080#http://localhost:$edge_port#g" \
    -e "s#127\.0\.0\.1:8081#127.0.0.1:$mock_port#g" \
    -e "s#127\.0\.0\.1:2020#127.0.0.1:$api_port#g" \
    -e "s#127\.0\.0\.1:9000#127.0.0.1:$backend_port#g" \
    -e "0,/^{\$/s##{\n\tadmin localhost:$admin_port#" \
    -e "s#{file\.\.build/demo-keys/#{file.$repo/.build/demo-keys/#g" \
    "$repo/Caddyfile" > "$tmp/Caddyfile"
# The WeChat Pay demo's keys, which the Caddyfile reads.
(cd "$repo" && go run ./cmd/demokeys -dir .build/demo-keys)
if grep -v '^[[:space:]]*#' "$tmp/Caddyfile" | grep -nE ':(8080|8081|2020|9000|2019)\b'; then
  echo "run.sh: the demo Caddyfile uses a port this script does not know how to move (above); update the sed lines" >&2
  exit 1
fi
grep -q "admin localhost:$admin_port" "$tmp/Caddyfile" || { echo "run.sh: could not add the admin line to the global block" >&2; exit 1; }

backend=${BACKEND:-}
if [ -z "$backend" ]; then
  (cd "$repo" && go build -o "$tmp/backend" ./examples/go)
  backend=$tmp/backend
fi
"$backend" -addr "127.0.0.1:$backend_port" -pay-api "http://127.0.0.1:$api_port" >"$tmp/backend.log" 2>&1 & pids+=($!)

mkdir -p "$tmp/data" "$tmp/config"
XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config WECHAT_SECRET=demo-secret-not-for-production \
  "$caddy" run --config "$tmp/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 & pids+=($!)
caddy_pid=$!

edge="http://localhost:$edge_port"
mock="http://127.0.0.1:$mock_port"
# Wait for the edge, the simulator and the backend (through the edge) to answer.
node -e '
  const [edge, mock, backend] = process.argv.slice(1);
  const deadline = Date.now() + 20000;
  const up = (u) => fetch(u, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
  (async () => {
    for (;;) {
      const [e, m, b] = await Promise.all([up(edge + "/"), up(mock + "/"), up(backend + "/")]);
      if (e === 200 && m > 0 && b > 0) return;
      if (Date.now() > deadline) { console.error("run.sh: the demo did not come up in 20 s (edge " + e + ", simulator " + m + ", backend " + b + ")"); process.exit(1); }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();' "$edge" "$mock" "http://127.0.0.1:$backend_port" || {
  kill -0 "$caddy_pid" 2>/dev/null || echo "run.sh: caddy exited" >&2
  exit 1
}

echo "run.sh: demo up: edge $edge, simulator $mock, backend 127.0.0.1:$backend_port, admin localhost:$admin_port"
DEMO_EDGE=$edge DEMO_MOCK=$mock node --test "$here/"
ok=1
