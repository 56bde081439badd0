# Build, run and test caddy-wechat. Usage: make -f xcaddy.mk <target>
#
#   run    build ./caddy and serve the demo Caddyfile on http://localhost:8080
#   build  build ./caddy with the plugin
#   test   everything CI runs

GO            ?= go
CADDY_VERSION ?= v2.11.9
XCADDY_VERSION ?= v0.4.5
MODULE        := github.com/caddy-wechat/caddy-wechat
GOBIN         := $(shell $(GO) env GOPATH)/bin
XCADDY        := $(GOBIN)/xcaddy
# The proxy answers 403 for a module it does not know, so the local
# module is named with a placeholder version and replaced by this tree.
WITH          := $(MODULE)@v0.0.0-00010101000000-000000000000=$(CURDIR)
FUZZTIME      ?= 5s

# Demo-only secret for the simulator; export your own for anything else.
export WECHAT_SECRET ?= demo-secret-not-for-production

.PHONY: build run test lint unit race examples smoke soak-quick soak fuzz-seeds fuzz

$(XCADDY):
	$(GO) install github.com/caddyserver/xcaddy/cmd/xcaddy@$(XCADDY_VERSION)

build: $(XCADDY)
	$(XCADDY) build $(CADDY_VERSION) --output ./caddy --with $(WITH)

run: build
	@bash .ci/demo run

test: lint unit examples build smoke soak-quick fuzz-seeds
	@echo "make -f xcaddy.mk test: all checks passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# -p 1: the caddytest integration tests share one in-process Caddy and
# its admin port. The race detector runs on the wechat package in CI; on
# caddymodule it means compiling all of Caddy a second time (about five
# minutes on two cores), so it has its own target.
unit:
	$(GO) test -count=1 -p 1 ./...
	$(GO) test -race -count=1 ./wechat/

race:
	$(GO) test -race -count=1 -p 1 ./...

examples:
	python3 -m unittest discover -s examples/python
	node --test examples/node/

smoke: build
	./caddy list-modules | grep -E '^(wechat|http\.handlers\.wechat_)'
	./caddy adapt --config Caddyfile >/dev/null
	./caddy validate --config Caddyfile
	bash .ci/demo smoke

# Short runs of every fuzz target (the seed corpora already run in unit).
fuzz-seeds:
	@for pkg in ./wechat ./caddymodule; do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t $(FUZZTIME)"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) >/dev/null || exit 1; \
	  done; \
	done

fuzz:
	$(MAKE) -f xcaddy.mk fuzz-seeds FUZZTIME=60s

# Mixed load with forged tokens and headers against the built Caddy; the
# full run is 10 minutes, CI runs a short one.
soak: build
	bash .ci/soak

soak-quick: build
	SOAK_DURATION=25s SOAK_WARMUP=10s bash .ci/soak

.PHONY: bench
bench: build
	bash .ci/bench
