# Build, run and test caddy-wechat. Usage: make -f xcaddy.mk <target>
#
#   run    build ./caddy and serve the demo Caddyfile on http://localhost:8080
#   build  build ./caddy with the plugin and its simulator (development)
#   test   everything CI runs
#   webview  the web-view H5 page in headless Chromium against the demo
#   race   every Go test under the race detector
#   fuzz   every fuzz target for FUZZTIME executions (default 200000x)
#   soak   10 minutes of mixed load against ./caddy
#   bench  the end-to-end benchmark (bench-results.md)
#   redis-server  install Debian's redis-server when it is missing (the store tests start their own)
#   recipes  the nginx, plain-Caddy forward_auth, Traefik and live-JWKS verifier tests

GO             ?= go
CADDY_VERSION  ?= v2.11.9
XCADDY_VERSION ?= v0.4.5
MODULE         := github.com/caddy-wechat/caddy-wechat
GOBIN          := $(shell $(GO) env GOPATH)/bin
XCADDY         := $(GOBIN)/xcaddy
# The proxy answers 403 for a module it does not know, so the local
# module is named with a placeholder version and replaced by this tree.
PLACEHOLDER    := v0.0.0-00010101000000-000000000000
WITH           := --with $(MODULE)@$(PLACEHOLDER)=$(CURDIR) --with $(MODULE)/mock@$(PLACEHOLDER)
# For a package inside this module (the simulator), Go first asks the
# proxy for a module of that longer path, and a 403 is not the "not found"
# that would make it settle on this one. After '|', an empty file proxy
# turns any failure of the first proxy into "not found".
comma          := ,
FIRST_PROXY    := $(firstword $(subst |, ,$(subst $(comma), ,$(shell $(GO) env GOPROXY))))
BUILD_PROXY    := $(FIRST_PROXY)|file://$(CURDIR)/.build/noproxy
# A count, not a duration: Go 1.26's fuzz coordinator can report its own
# -fuzztime deadline as a failure ("context deadline exceeded", no input
# written) on a busy machine, golang/go#75804, fixed only in Go 1.27.
FUZZTIME       ?= 10000x

# Demo-only secret for the simulator; export your own for anything else.
export WECHAT_SECRET ?= demo-secret-not-for-production

.PHONY: build run test lint unit race examples smoke chromium webview-npm webview recipes soak-quick soak fuzz-seeds fuzz bench redis-server

$(XCADDY):
	$(GO) install github.com/caddyserver/xcaddy/cmd/xcaddy@$(XCADDY_VERSION)

build: $(XCADDY)
	@mkdir -p .build/noproxy
	GOPROXY='$(BUILD_PROXY)' $(XCADDY) build $(CADDY_VERSION) --output ./caddy $(WITH)

run: build
	@bash .ci/demo run

test: lint unit examples build smoke webview recipes soak-quick fuzz-seeds
	@echo "make -f xcaddy.mk test: all checks passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The integration tests run a Caddy in-process on caddytest's fixed admin
# port, so they run alone, after everything else (which runs in parallel).
# The race detector runs on the packages that do not import Caddy: on the
# others it means compiling all of Caddy a second time (about five minutes
# on two cores), so they have their own target.
# cluster/ is left out: its Caddys are built binaries, so the detector
# would watch only the harness.
CADDY_FREE = $(shell $(GO) list -f '{{.ImportPath}} {{join .Deps " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... | grep -v 'github.com/caddyserver/caddy' | cut -d' ' -f1 | grep -v '/cluster$$')
# The Redis store's tests start redis-server themselves, each on a free
# port of its own: only the binary is needed, never a running service
# (apt in a container does not start one; if it did, it is left alone).
redis-server:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  sudo=; if [ "$$(id -u)" != 0 ]; then sudo=sudo; fi; \
	  echo "installing Debian's redis-server"; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y redis-server; \
	fi
	@redis-server --version

# cluster/ runs two built Caddys on one Redis and times how fast a logout
# reaches the other instance and when a copy goes stale, so it too runs
# alone.
unit: redis-server
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /integration$$ -e /cluster$$)
	$(GO) test -count=1 -p 1 ./integration/
	$(GO) test -count=1 -p 1 ./cluster/
	$(GO) test -race -count=1 $(CADDY_FREE)

race: redis-server
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /integration$$ -e /cluster$$)
	$(GO) test -race -count=1 -p 1 ./integration/
	$(GO) test -race -count=1 -p 1 ./cluster/

examples:
	python3 -m unittest discover -s examples/python
	node --test examples/node/
	node --test examples/miniprogram/test/
	bash examples/deps.sh
	bash examples/test.sh

smoke: build
	@got=$$(./caddy list-modules | grep -E '^(wechat|http\.handlers\.wechat(pay)?_|admin\.api\.wechat)' | sort); \
	  want=$$(sort testdata/modules-dev.txt); \
	  if [ "$$got" != "$$want" ]; then echo "./caddy list-modules:"; echo "$$got"; echo "want (testdata/modules-dev.txt):"; echo "$$want"; exit 1; fi; \
	  echo "list-modules: the $$(echo "$$got" | wc -l) modules of testdata/modules-dev.txt"
	./caddy adapt --config Caddyfile >/dev/null
	$(GO) run ./cmd/demokeys -dir .build/demo-keys
	./caddy validate --config Caddyfile
	python3 .ci/readme_commands.py
	bash .ci/demo smoke
	bash examples/php/test_through_caddy.sh ./caddy
	bash examples/miniprogram/test-demo/run.sh ./caddy

# The web-view page (examples/webview) in a real headless Chromium against
# the demo: Debian's chromium, driven by playwright-core from the committed
# lock file; Playwright never downloads a browser of its own here. Both are
# installed only when missing (as root, or through sudo). The screenshots go
# to $${ARTIFACTS_DIR:-.build/artifacts}.
WEBVIEW_TEST := examples/webview/test

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo=; if [ "$$(id -u)" != 0 ]; then sudo=sudo; fi; \
	  echo "chromium: installing Debian's chromium"; \
	  $$sudo apt-get update -qq -o DPkg::Lock::Timeout=300 && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium; } && \
	  command -v chromium >/dev/null || { echo "chromium: not installed; apt-get install chromium"; exit 1; }

$(WEBVIEW_TEST)/node_modules/.package-lock.json: $(WEBVIEW_TEST)/package.json $(WEBVIEW_TEST)/package-lock.json
	cd $(WEBVIEW_TEST) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error

webview-npm: $(WEBVIEW_TEST)/node_modules/.package-lock.json

webview: build chromium webview-npm
	bash $(WEBVIEW_TEST)/run.sh ./caddy

# The forward-auth recipes (examples/nginx, examples/caddy-forward-auth)
# with a real nginx and a Caddy built without the plugin, and the Express
# and Flask verifiers against the live JWKS. Installs nginx (and the
# examples' dependencies) when missing; every service on a free port in a
# temporary directory. The Traefik recipe's test builds Traefik from source
# (about 11 minutes the first time on a machine, seconds after that);
# RECIPES_TRAEFIK=0 leaves it out.
recipes: build
	bash examples/recipes/run.sh ./caddy

# Short runs of every fuzz target (the seed corpora already run in unit).
# A failure prints the fuzzer's output, which names the failing input's
# file. Minimizing a new input can take the default 60 s, far longer than
# a short run, so it is capped.
fuzz-seeds:
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list -f '{{.Dir}} {{.ImportPath}}' ./... | while read -r dir path; do \
	    grep -qs '^func Fuzz' $$dir/*_test.go && echo $$path; done); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t $(FUZZTIME)"; \
	    if ! $(GO) test $$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s >$$log 2>&1; then \
	      cat $$log; \
	      echo "FAIL: fuzz $$pkg $$t; the failing input is the file named above (testdata/fuzz/$$t/ in the package)"; \
	      exit 1; \
	    fi; \
	  done; \
	done

fuzz:
	$(MAKE) -f xcaddy.mk fuzz-seeds FUZZTIME=200000x

# Mixed load with forged tokens and headers against the built Caddy; the
# full run is 10 minutes, CI runs a short one.
soak: build
	bash .ci/soak

soak-quick: build
	SOAK_DURATION=25s SOAK_WARMUP=10s bash .ci/soak

bench: build redis-server
	bash .ci/bench
