#!/usr/bin/env bash
# Runs examples/webview/test/webview.test.js (the web-view page in Debian's
# headless Chromium) against the real demo.
#
#   examples/webview/test/run.sh <caddy-binary>
#   (build it with make -f xcaddy.mk build; make -f xcaddy.mk webview also
#   installs Chromium and playwright-core, then runs this)
#
# It starts the demo as `.ci/demo smoke` does: the example Go backend on
# 127.0.0.1:9000, then Caddy with the demo Caddyfile (edge on
# http://localhost:8080, simulator on :8081, wechat_api on :2020, admin on
# :2019), with temporary XDG dirs so its generated keys stay out of your own
# storage. It runs the test, and stops everything it started, also on
# failure; on failure it prints the logs.
#
# For the cross-origin case, its copy of the Caddyfile also serves the page
# on an origin of its own, http://localhost:8082 (as h5.example.com would
# be), and lists that origin in cookie { allowed_origins }.
#
# WEBVIEW_FREE_PORTS=1 moves every port to a free one instead (for a machine
# where the demo, or another test, already holds them).
# BACKEND=<binary> skips the go build of the backend. ARTIFACTS_DIR is where
# the screenshots go (default .build/artifacts).
set -euo pipefail

usage="usage: $0 <caddy-binary>   (build it with: make -f xcaddy.mk build)"
caddy=${1:?$usage}
[ -f "$caddy" ] && [ -x "$caddy" ] || { echo "run.sh: '$caddy' is not an executable file. $usage" >&2; exit 2; }
caddy=$(cd "$(dirname "$caddy")" && pwd)/$(basename "$caddy")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [ -n "${ARTIFACTS_DIR:-}" ]; then
  mkdir -p "$ARTIFACTS_DIR"
  ARTIFACTS_DIR=$(cd "$ARTIFACTS_DIR" && pwd)
  export ARTIFACTS_DIR
fi
[ -d "$here/node_modules/playwright-core" ] || {
  echo "run.sh: $here/node_modules/playwright-core is missing: npm ci --prefix examples/webview/test (or make -f xcaddy.mk webview)" >&2; exit 2; }
started=$SECONDS

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

if [ "${WEBVIEW_FREE_PORTS:-}" = 1 ]; then
  # Six free ports, held at once so they are distinct, then released.
  read -r edge_port mock_port api_port backend_port admin_port h5_port < <(node -e '
    const net = require("node:net"); const held = [];
    for (let i = 0; i < 6; i++) {
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => {
        held.push(s);
        if (held.length === 6) { console.log(held.map((x) => x.address().port).join(" ")); held.forEach((x) => x.close()); }
      });
    }')
  [ -n "${h5_port:-}" ] || { echo "run.sh: could not get free ports" >&2; exit 1; }
else
  edge_port=8080 mock_port=8081 api_port=2020 backend_port=9000 admin_port=2019 h5_port=8082
  # A port already taken would make Caddy or the backend exit, or worse,
  # make the test talk to someone else's demo: say so plainly.
  for p in $edge_port $mock_port $api_port $backend_port $admin_port $h5_port; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "run.sh: 127.0.0.1:$p is already in use (a demo running? make -f xcaddy.mk run); stop it, or run with WEBVIEW_FREE_PORTS=1" >&2
      exit 1
    fi
  done
fi

# The demo Caddyfile, on those ports (unchanged for the demo's own), with its
# admin endpoint named so that it moves too, and the page's own origin
# allowed to use the cookie.
h5="http://localhost:$h5_port"
sed -e "s#http://localhost:8080#http://localhost:$edge_port#g" \
    -e "s#127\.0\.0\.1:8081#127.0.0.1:$mock_port#g" \
    -e "s#127\.0\.0\.1:2020#127.0.0.1:$api_port#g" \
    -e "s#127\.0\.0\.1:9000#127.0.0.1:$backend_port#g" \
    -e "0,/^{\$/s##{\n\tadmin localhost:$admin_port#" \
    -e "s#^\([[:space:]]*\)cookie {\$#&\n\1\tallowed_origins $h5#" \
    "$repo/Caddyfile" > "$tmp/Caddyfile"
cat >> "$tmp/Caddyfile" <<CADDY

# run.sh: the web-view page on an origin of its own, as h5.example.com would
# be; it finds the edge in its ?edge= parameter.
$h5 {
	root * examples/webview/public
	try_files {path} {path}.html
	file_server
}
CADDY
if [ "$edge_port" != 8080 ] && grep -v '^[[:space:]]*#' "$tmp/Caddyfile" | grep -nE ':(8080|8081|2020|9000|2019)\b'; then
  echo "run.sh: the demo Caddyfile uses a port this script does not know how to move (above); update the sed lines" >&2
  exit 1
fi
grep -q "admin localhost:$admin_port" "$tmp/Caddyfile" || { echo "run.sh: could not add the admin line to the global block" >&2; exit 1; }
grep -q "allowed_origins $h5\$" "$tmp/Caddyfile" || { echo "run.sh: could not add allowed_origins $h5 to the cookie block of the Caddyfile" >&2; exit 1; }

backend=${BACKEND:-}
if [ -z "$backend" ]; then
  (cd "$repo" && go build -o "$tmp/backend" ./examples/go)
  backend=$tmp/backend
fi
"$backend" -addr "127.0.0.1:$backend_port" -pay-api "http://127.0.0.1:$api_port" >"$tmp/backend.log" 2>&1 & pids+=($!)
backend_pid=$!

# From the repository root: the Caddyfile's `root * examples/webview/public`
# is relative, and so are its WeChat Pay demo keys, made here if missing.
(cd "$repo" && go run ./cmd/demokeys -dir .build/demo-keys)
mkdir -p "$tmp/data" "$tmp/config"
(cd "$repo" && XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config WECHAT_SECRET=demo-secret-not-for-production \
  exec "$caddy" run --config "$tmp/Caddyfile" --adapter caddyfile) >"$tmp/caddy.log" 2>&1 & pids+=($!)
caddy_pid=$!

edge="http://localhost:$edge_port"
# Wait for the edge, the page, the simulator and the backend to answer, and
# fail at once if Caddy or the backend has exited.
node -e '
  const [edge, h5, mock, backend, caddyPid, backendPid] = process.argv.slice(1);
  const deadline = Date.now() + 20000;
  const up = (u) => fetch(u, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
  const alive = (pid) => { try { process.kill(Number(pid), 0); return true; } catch (e) { return false; } };
  (async () => {
    for (;;) {
      if (!alive(caddyPid)) { console.error("run.sh: caddy exited"); process.exit(1); }
      if (!alive(backendPid)) { console.error("run.sh: the backend exited"); process.exit(1); }
      const [e, h, x, m, b] = await Promise.all([up(edge + "/"), up(edge + "/h5/enter"), up(h5 + "/enter"), up(mock + "/"), up(backend + "/")]);
      if (e === 200 && h === 200 && x === 200 && m > 0 && b > 0) return;
      if (Date.now() > deadline) { console.error("run.sh: the demo did not come up in 20 s (edge " + e + ", page " + h + ", page on its own origin " + x + ", simulator " + m + ", backend " + b + ")"); process.exit(1); }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();' "$edge" "$h5" "http://127.0.0.1:$mock_port" "http://127.0.0.1:$backend_port" "$caddy_pid" "$backend_pid"

echo "run.sh: demo up in $((SECONDS - started)) s: edge $edge, page on its own origin $h5, simulator 127.0.0.1:$mock_port, backend 127.0.0.1:$backend_port, admin localhost:$admin_port"
# The test bounds each of its waits; this bounds the whole, in case the
# browser itself wedges.
DEMO_EDGE=$edge DEMO_H5=$h5 timeout -k 10 180 node --test "$here/webview.test.js"
ok=1
echo "run.sh: webview test passed in $((SECONDS - started)) s"
