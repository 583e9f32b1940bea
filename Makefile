# Portcullis — every target installs or starts what it needs itself.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all demo build test test-only lint fmt-check crds deps-prometheus deps-helm deps-buildah deps-image image image-push bench bench-scale clean e2e-cluster

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

## Clippy over the workspace, and the operator as its image builds it (no `lab`).
lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --lib --bins -- -D warnings

## A Python venv with Helm's own engine (helm-python-sdk: Helm v4 as a library, no helm
## binary) and kubernetes-validate, used by the chart tests (tests/helm_chart.rs).
VENV ?= .venv
HELM_PY_DEPS := helm-python-sdk==0.2.2 kubernetes-validate==1.37.0
deps-helm:
	@$(VENV)/bin/python -c 'import helm_python, kubernetes_validate' 2>/dev/null || { \
		python3 -m venv $(VENV) && \
		$(VENV)/bin/pip install -q --disable-pip-version-check $(HELM_PY_DEPS); }

## buildah: OCI images without a Docker daemon.
deps-buildah:
	@command -v buildah >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends buildah; }

## What the image tests need: buildah and Debian's docker-registry (they push to one on
## loopback).
deps-image: deps-buildah
	@command -v docker-registry >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-registry; }

## The operator's image: the chart's image.repository, tagged with its appVersion (what
## `helm install` pulls by default). Built from the release binary without the `lab`
## feature (no local cluster, no demo) with buildah as root (vfs storage under
## target/image, chroot isolation); the last line printed is `image: REF ARCHIVE`,
## ARCHIVE an oci-archive under target/image/.
CHART := charts/portcullis
CHART_IMAGE_REPO := $(shell awk '/^image:/ {i=1; next} /^[^ #]/ {i=0} i && $$1 == "repository:" {print $$2; exit}' $(CHART)/values.yaml)
IMAGE_TAG := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' $(CHART)/Chart.yaml)
IMAGE_REF := $(CHART_IMAGE_REPO):$(IMAGE_TAG)
IMAGE_ARCHIVE := target/image/portcullis-$(IMAGE_TAG).oci.tar
BUILDAH_STORE := $(CURDIR)/target/image/storage
export BUILDAH := buildah --root $(BUILDAH_STORE)/root --runroot $(BUILDAH_STORE)/run --storage-driver vfs
image: deps-buildah
	$(CARGO) build --release --locked --no-default-features
	@scripts/image.sh build $(IMAGE_REF) $(IMAGE_ARCHIVE)

## Pushes the image to IMAGE_REPO (any registry; log in first with `buildah login`, or
## IMAGE_TLS_VERIFY=false for a plain-HTTP one), tagged with the appVersion; the last line
## is `pushed: IMAGE_REPO:TAG@DIGEST`.
IMAGE_REPO ?= $(CHART_IMAGE_REPO)
export IMAGE_TLS_VERIFY ?= true
image-push: image
	@scripts/image.sh push $(IMAGE_REF) $(IMAGE_REPO):$(IMAGE_TAG)

## Image tests (tests/image.rs: a release build, minutes cold) run when buildah and
## docker-registry are installed (`make deps-image`); otherwise they say they are skipped.
IMAGE_TESTS := $(shell command -v buildah >/dev/null && command -v docker-registry >/dev/null && echo 1)

test-only: deps-prometheus deps-helm
	PORTCULLIS_IMAGE_TESTS=$(IMAGE_TESTS) $(CARGO) test --workspace --all-targets

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

## The judge against Argo Rollouts and Flagger on simulated login traffic (README, "How it
## compares"); the last line is the summary. Optimised (the grid is ~300k simulated
## canaries): ~4 minutes to run on 2 cores, after a release build (~10 minutes cold).
bench:
	$(CARGO) bench --bench judge

## N Rollouts (SCALE_ROLLOUTS, default 10000) on one operator binary, release build,
## against a local cluster it starts (or SCALE_KUBECONFIG's cluster, CRDs installed); 1% of
## them canary. The last line is the `scale:` summary (README, "Scale").
bench-scale:
	$(CARGO) bench --bench scale

clean:
	$(CARGO) clean
