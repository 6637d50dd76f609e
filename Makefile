# ovos-oauth developer targets. `make` alone lists them.

GO        ?= go
# Evaluated once (:=), so that a commit made during a build cannot give one
# binary or package another version than the next.
ifeq ($(origin VERSION),undefined)
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
LDFLAGS   := -X main.version=$(VERSION)
BUILD     := $(GO) build -trimpath -ldflags "$(LDFLAGS)"
PKG       := ./cmd/ovos-oauth
FUZZTIME  ?= 10s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run test lint relay-page providers bench benchmarks fuzz cross deb clean FORCE

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Static like the release binaries (CGO_ENABLED=0): nothing needs cgo, and
# without libc and its loader the daemon idles 1.6 MB smaller (VmRSS 11.9
# MB instead of 13.5 on amd64; the pages of libc.so and ld.so it touches).
build: ## build bin/ovos-oauth for this machine
	CGO_ENABLED=0 $(BUILD) -o bin/ovos-oauth $(PKG)

# Not a build target of its own: bench builds it beside the daemon.
bin/ovos-oauth-bench: FORCE
	$(BUILD) -o $@ ./cmd/ovos-oauth-bench

# make run's folder: its database, and the ovos_utils files its mirror writes
# and its first start imports ($XDG_CACHE_HOME/mycroft/json_database), so that
# it never touches this user's own in ~/.cache, which OVOS's skills read.
RUN_DIR   ?= $(CURDIR)/.data

run: build ## run the daemon with its own bus on 127.0.0.1:8181, its data and ovos_utils files in .data/
	XDG_CACHE_HOME=$(RUN_DIR)/cache ./bin/ovos-oauth serve --embedded-bus 127.0.0.1:8181 --data-dir $(RUN_DIR) --public-host 127.0.0.1

# A binary built with -race sleeps a second as it exits (the race
# detector's atexit_sleep_ms), in case goroutines still running race then:
# a second per package, for goroutines that outlive every test, which the
# tests do not leave. The caller's GORACE comes after, and wins.
test: ## run all tests with the race detector, in random order (what CI runs)
	GORACE="atexit_sleep_ms=0 $(GORACE)" $(GO) test -race -shuffle=on -count=1 ./...

lint: ## gofmt, go vet and staticcheck
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l found unformatted files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The relay page is one static file with a strict CSP: its inline script
# and style run only under their SHA-256 hashes, and its words in every
# language are a table inside the script. After an edit of the page or of a
# file in internal/i18n/messages, this writes both anew (TestPageCurrent
# fails until it has run).
relay-page: ## rewrite web/relay/index.html's words (from internal/i18n/messages) and its CSP hashes
	$(GO) test ./web/relay/ -run '^TestPageCurrent$$' -count=1 -update

# docs/PROVIDERS.md, the how-to of making an app at each provider, and the
# README's provider table are made from the provider table in
# internal/oauth/providers.go and the setup page's English sentences
# (internal/i18n/messages/en.json). After an edit of either, this writes
# them anew (TestProvidersDoc and TestREADMEProviders fail until it has run).
providers: ## rewrite docs/PROVIDERS.md and the README's provider table from the provider table
	$(GO) test ./internal/oauth/ -run '^(TestProvidersDoc|TestREADMEProviders)$$' -count=1 -update

bench: build bin/ovos-oauth-bench ## the daemon under load on a bus like ovos-messagebus, beside its echo floor (scripts/bench.sh)
	scripts/bench.sh

benchmarks: ## run the go test benchmarks, no tests
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# go test -fuzz takes one package and one target at a time, hence the loops.
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" as -fuzztime ends on a loaded machine, having found nothing
# (golang/go#75804, fixed in Go 1.27): such a run, with no failing input
# written, is run once more; any other failure fails at once.
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; \
	for pkg in $$($(GO) list ./...); do \
		targets=$$($(GO) test -list '^Fuzz' "$$pkg") || exit 1; \
		for t in $$(printf '%s\n' "$$targets" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			for try in 1 2; do \
				if out=$$($(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) "$$pkg" 2>&1); then \
					printf '%s\n' "$$out"; break; \
				fi; \
				printf '%s\n' "$$out"; \
				if [ "$$try" = 1 ] && printf '%s\n' "$$out" | grep -q 'context deadline exceeded' && \
					! printf '%s\n' "$$out" | grep -q 'Failing input written'; then \
					echo "== $$t: the fuzz coordinator's deadline race (golang/go#75804), nothing found; once more"; \
					continue; \
				fi; \
				exit 1; \
			done; \
		done; \
	done

# Release binaries drop the symbol table and DWARF (-s -w): a third smaller
# on a device's SD card; panics still print file:line.
RELEASE := $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)"

cross: bin/ovos-oauth-linux-amd64 bin/ovos-oauth-linux-arm64 bin/ovos-oauth-linux-armv7 ## static, stripped Linux binaries for amd64, arm64 and armv7 (Raspberry Pi) in bin/

# FORCE: go build decides what is stale, not make.
bin/ovos-oauth-linux-amd64: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(RELEASE) -o $@ $(PKG)
bin/ovos-oauth-linux-arm64: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(RELEASE) -o $@ $(PKG)
bin/ovos-oauth-linux-armv7: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(RELEASE) -o $@ $(PKG)

# Debian packages, built by nfpm (pinned in go.mod as a tool) from the
# binaries of make cross. Debian's armhf is ARMv7: 32-bit Raspberry Pi OS
# on a Pi 2 or later.
# A Debian version must start with a digit: v1.2.3-4-gabcdef-dirty becomes
# 1.2.3+4.gabcdef.dirty, and an untagged abcdef becomes 0~gitabcdef.
DEB_ARCHES     ?= amd64 arm64 armhf
ifeq ($(origin DEB_VERSION),undefined)
DEB_VERSION    := $(shell echo '$(VERSION)' | sed -E '/^v[0-9]/!s/^/0~git/; s/^v//; s/-/+/; s/-/./g')
endif
DEB_MAINTAINER ?= OpenVoiceOS
DEB_BIN_amd64  := bin/ovos-oauth-linux-amd64
DEB_BIN_arm64  := bin/ovos-oauth-linux-arm64
DEB_BIN_armhf  := bin/ovos-oauth-linux-armv7

deb: $(foreach a,$(DEB_ARCHES),dist/ovos-oauth_$(DEB_VERSION)_$(a).deb) ## .deb packages for DEB_ARCHES (amd64 arm64 armhf) in dist/

.SECONDEXPANSION:
dist/ovos-oauth_$(DEB_VERSION)_%.deb: $$(DEB_BIN_$$*) FORCE
	@test -n "$(DEB_BIN_$*)" || { echo "no binary for Debian architecture $*; DEB_ARCHES takes amd64 arm64 armhf"; exit 1; }
	@mkdir -p dist
	ARCH=$* BINARY=$(DEB_BIN_$*) VERSION='$(DEB_VERSION)' MAINTAINER='$(DEB_MAINTAINER)' \
		$(GO) tool nfpm package --config packaging/nfpm.yaml --packager deb --target $@

clean: ## remove bin/ and dist/ (never .data/: it holds tokens)
	rm -rf bin dist
