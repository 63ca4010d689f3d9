# haredis make targets. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

include hack/versions.mk

ROOT       := $(abspath .)
BIN        := $(ROOT)/bin
KUBE_BIN   := $(BIN)/k8s-$(KUBE_VERSION)
ETCD_BIN   := $(BIN)/etcd-$(ETCD_VERSION)
TOOLS      := go tool -modfile=$(ROOT)/hack/tools/go.mod
GO_TEST    ?= go test
# The harness finds the control plane here (see test/controlplane).
export HAREDIS_KUBE_BIN := $(KUBE_BIN)
export HAREDIS_ETCD_BIN := $(ETCD_BIN)

KUBE_LDPKG := k8s.io/component-base/version
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION)))
KUBE_LDFLAGS := -s -w \
	-X $(KUBE_LDPKG).gitVersion=$(KUBE_VERSION) \
	-X $(KUBE_LDPKG).gitMajor=1 \
	-X $(KUBE_LDPKG).gitMinor=$(KUBE_MINOR) \
	-X $(KUBE_LDPKG).gitTreeState=clean \
	-X $(KUBE_LDPKG).gitCommit=0000000000000000000000000000000000000000 \
	-X $(KUBE_LDPKG).buildDate=1970-01-01T00:00:00Z
KUBE_CMDS := kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl

DEB_PACKAGES := redis-server redis-sentinel redis-tools python3-redis ruby-redis iptables iproute2 conntrack

##@ Set-up

.PHONY: setup
setup: setup-packages $(KUBE_BIN)/.complete $(ETCD_BIN)/etcd setup-bed ## Install Debian packages, build the control plane and the test bed's parts (idempotent, cached in bin/)

.PHONY: setup-packages
setup-packages: ## Install the Debian packages the tests need, if missing
	@hack/setup-packages.sh $(DEB_PACKAGES)

$(KUBE_BIN)/.complete: hack/controlplane/go.mod hack/versions.mk
	@echo "building Kubernetes $(KUBE_VERSION) control plane into $(KUBE_BIN) (about 15 minutes the first time)"
	@mkdir -p $(KUBE_BIN)
	cd hack/controlplane && go build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $(KUBE_BIN)/ $(addprefix k8s.io/kubernetes/cmd/,$(KUBE_CMDS))
	@touch $@

$(ETCD_BIN)/etcd: hack/etcd/go.mod hack/versions.mk
	@echo "building etcd $(ETCD_VERSION) into $(ETCD_BIN)"
	@mkdir -p $(ETCD_BIN)
	cd hack/etcd && go build -trimpath -ldflags '-s -w' -o $@ .

##@ Development

.PHONY: generate
generate: ## Generate CRDs, deepcopy and RBAC from the kubebuilder markers, and the Helm chart's copies of them and its README
	$(TOOLS) controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(TOOLS) controller-gen crd:generateEmbeddedObjectMeta=false rbac:roleName=haredis-operator paths=./... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/crdref config/crd/bases/*.yaml > docs/reference.md
	rm -f charts/haredis/crds/*.yaml && cp config/crd/bases/*.yaml charts/haredis/crds/
	cp config/rbac/role.yaml charts/haredis/files/role.yaml
	go run ./hack/chartdoc charts/haredis > charts/haredis/README.md
	cp charts/haredis/files/grafana-dashboard.json docs/grafana-dashboard.json
	cp charts/haredis/files/alerts.yaml docs/alerts.yaml

.PHONY: build
build: ## Build haredis and kubectl-haredis into bin/
	go build -o $(BIN)/ ./cmd/...

.PHONY: vet
vet: check-parts ## go vet and staticcheck
	go vet ./...
	$(TOOLS) staticcheck ./...

# Every part's mk/NAME.mk adds its packages to PARTS_PKGS; a package in no
# part would be tested by `make test` alone, never by the part's targets.
.PHONY: check-parts
check-parts: ## Fail when a Go package belongs to no part (mk/*.mk PARTS_PKGS)
	@missing=$$(comm -23 <(go list ./... | sort) <(go list $(PARTS_PKGS) | sort)); \
	if [ -n "$$missing" ]; then echo "packages in no part (add them to a *_PKGS list in mk/):"; echo "$$missing"; exit 1; fi

##@ Tests

.PHONY: test
# The end-to-end and fault suites come first in the list: go test starts
# packages in the order they are listed, and these two are the longest, so
# everything else runs beside them instead of before them.
test: setup vet ## Every test: vet, staticcheck, unit, integration and end to end (root, on the local test bed)
	$(GO_TEST) -count=1 -timeout 55m ./test/e2e/ ./test/chaos/ ./...
	@echo "the proxy again on plain system calls (its path where io_uring is refused, as in most containers)"
	HAREDIS_PROXY_NO_IO_URING=1 $(GO_TEST) -count=1 -timeout 10m ./internal/proxy/...

.PHONY: test-short
test-short: setup vet ## Unit and integration tiers alone
	$(GO_TEST) -count=1 -short -timeout 20m ./...
	HAREDIS_PROXY_NO_IO_URING=1 $(GO_TEST) -count=1 -short -timeout 10m ./internal/proxy/...

# Each part of the project adds its own targets in mk/NAME.mk, and its
# benchmarks to BENCHES.
BENCHES :=
-include mk/*.mk

.PHONY: bench
bench: $(BENCHES) ## Every benchmark (each part adds its bench-* target to BENCHES); each ends with a `bench:` line

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
