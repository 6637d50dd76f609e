# ovos-oauth developer targets. `make` alone lists them.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BUILD     := $(GO) build -trimpath -ldflags "$(LDFLAGS)"
PKG       := ./cmd/ovos-oauth
FUZZTIME  ?= 10s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run test lint bench fuzz cross clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/ovos-oauth for this machine
	$(BUILD) -o bin/ovos-oauth $(PKG)

run: build ## run the daemon with its own bus on 127.0.0.1:8181 and data in .data/
	./bin/ovos-oauth serve --embedded-bus 127.0.0.1:8181 --data-dir $(CURDIR)/.data --public-host 127.0.0.1

test: ## run all tests with the race detector, in random order (what CI runs)
	$(GO) test -race -shuffle=on -count=1 ./...

lint: ## gofmt, go vet and staticcheck
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l found unformatted files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: ## run the benchmarks, no tests
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# go test -fuzz takes one package and one target at a time, hence the loops.
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; \
	for pkg in $$($(GO) list ./...); do \
		targets=$$($(GO) test -list '^Fuzz' "$$pkg") || exit 1; \
		for t in $$(printf '%s\n' "$$targets" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
		done; \
	done

# Release binaries drop the symbol table and DWARF (-s -w): a third smaller
# on a device's SD card; panics still print file:line.
RELEASE := $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)"

cross: ## static, stripped Linux binaries for amd64, arm64 and armv7 (Raspberry Pi) in bin/
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(RELEASE) -o bin/ovos-oauth-linux-amd64 $(PKG)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(RELEASE) -o bin/ovos-oauth-linux-arm64 $(PKG)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(RELEASE) -o bin/ovos-oauth-linux-armv7 $(PKG)

clean: ## remove bin/ (never .data/: it holds tokens)
	rm -rf bin
