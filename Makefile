# harvnet: see README.md. Tests and the demo need root (network namespaces).
SHELL := /bin/bash
export PATH := $(CURDIR)/bin:/usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: all build tools generate verify-generated check-deps vet test test-unit test-vm test-vm-cp bench demo demo-vm clean image helm-lint test-deploy cluster-up cluster-down demo-cluster

all: build

build:
	$(GO) build -o bin/ ./cmd/...

tools:
	scripts/install-tools.sh

generate:
	scripts/generate.sh

verify-generated:
	scripts/verify-generated.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -w these files:"; echo "$$out"; exit 1; fi

# harvnet-controller must not link netlink, iptables or the host packages.
check-deps:
	scripts/check-deps.sh

# Everything: unit tests, netns tests against this kernel, the control-plane
# e2e, the chart on real kubelets (on its own, so its cluster's load does not
# share the CPU with the timing-sensitive reachability tests), and the netns
# tests again on a full Debian kernel under qemu.
# Installs what a fresh machine lacks first.
test: tools vet verify-generated check-deps helm-lint
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v /e2e/deploy)
	$(GO) test -count=1 -timeout 40m -v ./e2e/deploy/
	scripts/vm-test.sh

# One boot of a stock Debian 12 kernel under qemu (software emulation, no
# KVM): the control-plane e2e (tier B), then the netns tests (tier A), where
# bridge VLAN filtering, broute and bonding exist, so nothing may skip for
# lack of them. Results in _output/vm/results.jsonl (e2e/vm/README.md).
# Caches the kernel in /var/cache/harvnet-vm.
test-vm:
	scripts/vm-test.sh

# Only the control-plane e2e on the full kernel (tier B, about 45 s).
test-vm-cp:
	scripts/vm-test.sh -tier b

# The unit tier: logic with fakes and fake clocks, no root, no kernel, no
# API server, in seconds (-short skips every netns test; the e2e and VM
# tiers are left out).
test-unit:
	$(GO) test -short -count=1 ./pkg/... ./cmd/... ./internal/...

# End-to-end benchmarks (issue 12) and the Go benchmarks of ./pkg/...,
# written to BENCHMARKS.md; needs root, about 12 minutes (the idle figure
# alone is 5: HARVNET_BENCH_IDLE=30s shortens it for a quick look).
bench: tools build
	$(GO) run ./e2e/bench -out BENCHMARKS.md

demo: tools build
	scripts/demo.sh

# The demo with its nodes in a VM (automatic via scripts/demo.sh on kernels
# without VLAN filtering).
demo-vm: tools build
	scripts/vm-demo.sh

# The image (buildah, no Docker engine, no registry) as an OCI archive in
# _output/, tagged from git describe; see scripts/image.sh.
image:
	scripts/image.sh

helm-lint: tools
	bin/helm lint --strict manifests/chart/harvnet

# The chart on a real two-kubelet cluster in network namespaces
# (scripts/cluster-up.sh); e2e/deploy builds the image and the cluster tools
# itself (cached), so `go test ./...` in make test runs it too.
test-deploy: tools
	$(GO) test -count=1 -timeout 40m -v ./e2e/deploy/

# A kubelet cluster to look at by hand (the demo as a user sees it):
#   make cluster-up; scripts/cluster-kubectl.sh get pods -A; make cluster-down
cluster-up: tools
	scripts/install-tools.sh --cluster
	HARVNET_IMAGES=$$(scripts/image.sh) scripts/cluster-up.sh

cluster-down:
	scripts/cluster-down.sh

# The demo as a user sees it: the chart on the kubelet cluster.
demo-cluster: tools
	scripts/cluster-demo.sh

clean:
	rm -rf bin _output/vm _output/vm-demo
