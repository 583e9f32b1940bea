# Portcullis — every target installs or starts what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all demo build test test-only lint fmt-check crds deps-prometheus deps-helm bench clean e2e-cluster

all: build

## The whole story locally: a good release promoted, a bad authentication release rolled
## back (a local cluster, simulated traffic, Debian's real Prometheus; about a minute).
demo: deps-prometheus
	$(CARGO) run --quiet -- demo

build:
	$(CARGO) build

## Debian's Prometheus binary, used by tests that check analysis. Never run as a service:
## policy-rc.d keeps the package from starting it, and on a systemd host its unit is
## disabled again, so nothing keeps running after make.
deps-prometheus:
	@command -v prometheus >/dev/null || { \
		created=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created=1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; rc=$$?; \
		if [ -n "$$created" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
		if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi; \
		exit $$rc; }

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

## A Python venv with Helm's own engine (helm-python-sdk: Helm v4 as a library, no helm
## binary) and kubernetes-validate, used by the chart tests (tests/helm_chart.rs).
VENV ?= .venv
HELM_PY_DEPS := helm-python-sdk==0.2.2 kubernetes-validate==1.37.0
deps-helm:
	@$(VENV)/bin/python -c 'import helm_python, kubernetes_validate' 2>/dev/null || { \
		python3 -m venv $(VENV) && \
		$(VENV)/bin/pip install -q --disable-pip-version-check $(HELM_PY_DEPS); }

test-only: deps-prometheus deps-helm
	$(CARGO) test --all-targets

## fmt check, clippy -D warnings, every test.
test: fmt-check lint test-only

## Regenerate the CRD YAML from the Rust types: crds/ and the Helm chart's copy.
crds:
	$(CARGO) run --quiet -- crds > crds/portcullis.dev.yaml
	mkdir -p charts/portcullis/crds
	cp crds/portcullis.dev.yaml charts/portcullis/crds/portcullis.dev.yaml

## The operator scenarios against a real cluster (not run in CI). Needs KUBECONFIG with
## Portcullis' CRDs (crds/) and the Gateway API HTTPRoute CRD installed, and
## PORTCULLIS_E2E_IMAGE_REPO: an image repository with tags 1.0, 1.1, 1.2, 1.2-broken.
e2e-cluster:
	@test -n "$$KUBECONFIG" || { echo "set KUBECONFIG to the cluster to test against"; exit 2; }
	@test -n "$$PORTCULLIS_E2E_IMAGE_REPO" || { echo "set PORTCULLIS_E2E_IMAGE_REPO (see Makefile)"; exit 2; }
	PORTCULLIS_E2E_KUBECONFIG="$$KUBECONFIG" $(CARGO) test --test operator_canary --test operator_gateway \
		--test operator_resilience --test operator_rbac --test operator_failsafe \
		--test operator_events --test cli_pipeline -- --test-threads=1

## The judge against Argo/Flagger-style rules on simulated traffic; the last line is the
## summary. Dev profile: it reuses the test build (a cold release build of the
## dependency tree alone takes longer than the bench).
bench:
	$(CARGO) bench --profile dev --bench judge

clean:
	$(CARGO) clean
