#!/usr/bin/env bash
# The Traefik forwardAuth recipe's test: builds Traefik from source through
# the Go module proxy (Debian has no package, and `go install …@version`
# refuses Traefik's go.mod, which has replace directives) into the user's
# cache, ${XDG_CACHE_HOME:-~/.cache}/caddy-wechat/traefik-<version> (or
# TRAEFIK_DIR), outside the clone so that a fresh clone reuses it, then runs
# examples/recipes/test_traefik.py against it and the built ./caddy.
#
#   examples/traefik/test.sh           (after make -f xcaddy.mk build)
#
# The first build on a machine downloads Traefik's modules and compiles
# them: about 11 minutes on 2 cores. Later builds reuse Go's build cache
# (about 15 s), and an existing binary of the same version is used as it
# is. TRAEFIK_VERSION picks another v3 release: v3.7.x needs
# modules that this machine's module proxy does not serve (see README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${TRAEFIK_VERSION:-v3.6.12}
out=${TRAEFIK_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/caddy-wechat/traefik-$version}
mkdir -p "$out"
if [ ! -x "$out/traefik" ] || [ "$(cat "$out/VERSION" 2>/dev/null)" != "$version" ]; then
  echo "examples/traefik/test.sh: building Traefik $version from source into $out (the first time takes minutes)"
  t0=$(date +%s)
  dir=$(cd "$(mktemp -d)" && go mod download -json "github.com/traefik/traefik/v3@$version" |
    /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')
  rm -rf "$out/src" "$out/traefik" "$out/VERSION"
  cp -r "$dir" "$out/src"
  chmod -R u+w "$out/src"
  if ! (cd "$out/src" && go build -trimpath -o ../traefik ./cmd/traefik); then
    echo "examples/traefik/test.sh: building Traefik $version failed (see above: a module the proxy does not serve?)" >&2
    exit 1
  fi
  echo "$version" >"$out/VERSION"
  echo "examples/traefik/test.sh: built Traefik $version in $(($(date +%s) - t0)) s"
fi
RECIPES_TRAEFIK="$out/traefik" exec /usr/bin/python3 examples/recipes/test_traefik.py
