# Portcullis — every target installs or starts what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build test test-only lint fmt-check crds deps-prometheus bench clean

all: build

build:
	$(CARGO) build

## Debian's Prometheus binary, used by tests that check analysis (never run as a service).
deps-prometheus:
	@command -v prometheus >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

test-only: deps-prometheus
	$(CARGO) test --all-targets

## fmt check, clippy -D warnings, every test.
test: fmt-check lint test-only

## Regenerate crds/*.yaml from the Rust types.
crds:
	$(CARGO) run --quiet -- crds > crds/portcullis.dev.yaml

## The judge against Argo/Flagger-style rules on simulated traffic; the last line is the
## summary. Dev profile: it reuses the test build (a cold release build of the
## dependency tree alone takes longer than the bench).
bench:
	$(CARGO) bench --profile dev --bench judge

clean:
	$(CARGO) clean
