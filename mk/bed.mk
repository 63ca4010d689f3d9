# Test bed: a local cluster whose pods are host processes. See docs/testbed.md.

COREDNS_VERSION := v1.15.0
COREDNS_BIN     := $(BIN)/coredns-$(COREDNS_VERSION)
BED_BIN         := $(BIN)/haredis-bed
# Valkey from Debian's bookworm-backports, unpacked (not installed) so that
# nothing conflicts with the system's Redis; the bed maps valkey images to it.
VALKEY_VERSION  := 8.0.1
VALKEY_DEB      := 8.0.1+dfsg1-1~bpo12+1
VALKEY_DIR      := $(BIN)/valkey-$(VALKEY_VERSION)
BED_PKGS        := ./test/bed/... ./hack/bench/bed/...
PARTS_PKGS      += $(BED_PKGS)
# The bed finds CoreDNS here (see test/bed/cluster).
export HAREDIS_COREDNS := $(COREDNS_BIN)/coredns
export HAREDIS_VALKEY_DIR := $(VALKEY_DIR)
# SeaweedFS, the S3-compatible object store of the tests (internal/s3test)
# and of the bed; its version is in hack/versions.mk.
SEAWEEDFS_BIN   := $(BIN)/seaweedfs-$(SEAWEEDFS_VERSION)
export HAREDIS_SEAWEEDFS := $(SEAWEEDFS_BIN)/weed

##@ Test bed

.PHONY: setup-bed
setup-bed: $(COREDNS_BIN)/coredns $(VALKEY_DIR)/.complete setup-seaweedfs ## Build what the test bed adds to `make setup` (CoreDNS, Valkey, SeaweedFS; virtual-kubelet is a Go dependency)

.PHONY: setup-seaweedfs
setup-seaweedfs: $(SEAWEEDFS_BIN)/weed ## Build SeaweedFS, the S3-compatible server of the object store's tests, into bin/ (reused when present)

$(VALKEY_DIR)/.complete:
	@echo "unpacking Valkey $(VALKEY_VERSION) from bookworm-backports into $(VALKEY_DIR)"
	hack/fetch-debs.sh $(VALKEY_DIR) bookworm-backports valkey-server=$(VALKEY_DEB) valkey-sentinel=$(VALKEY_DEB) valkey-tools=$(VALKEY_DEB)

$(COREDNS_BIN)/coredns: hack/coredns/go.mod
	@echo "building CoreDNS $(COREDNS_VERSION) into $(COREDNS_BIN) (about 4 minutes the first time)"
	@mkdir -p $(COREDNS_BIN)
	cd hack/coredns && go build -trimpath -ldflags '-s -w' -o $@ github.com/coredns/coredns

# Built once per version and reused: the folder is keyed by the version, which
# a test of internal/s3test checks against hack/seaweedfs/go.mod.
$(SEAWEEDFS_BIN)/weed:
	@echo "building SeaweedFS $(SEAWEEDFS_VERSION) into $(SEAWEEDFS_BIN) (about 8 minutes of CPU the first time)"
	@mkdir -p $(SEAWEEDFS_BIN)
	cd hack/seaweedfs && go build -trimpath -ldflags '-s -w' -o $@ github.com/seaweedfs/seaweedfs/weed

.PHONY: bed-bin
bed-bin: ## Build bin/haredis-bed and bin/haredis (the project image's binary)
	go build -o $(BIN)/haredis ./cmd/haredis
	go build -o $(BED_BIN) ./test/bed/cmd/haredis-bed

.PHONY: demo
demo: setup setup-bed bed-bin ## Start the bed, the operator and the sample RedisFailover, print its URLs, prove them with PING/SET/GET, leave it running
	$(BED_BIN) up

.PHONY: demo-down
demo-down: ## Stop the demo bed and remove every process, namespace, link, rule and mount it made (also after a crash)
	go build -o $(BED_BIN) ./test/bed/cmd/haredis-bed
	$(BED_BIN) down

.PHONY: demo-status
demo-status: ## Show the demo bed's nodes, pods and Services
	$(BED_BIN) status

.PHONY: test-bed
test-bed: setup setup-bed ## Unit, integration and end-to-end tests of the test bed (one bed, a few minutes)
	$(GO_TEST) -count=1 -timeout 15m $(BED_PKGS)

.PHONY: vet-bed
vet-bed: ## go vet and staticcheck of the test bed
	go vet $(BED_PKGS)
	$(TOOLS) staticcheck $(BED_PKGS)

.PHONY: bench-bed
bench-bed: setup setup-bed ## Cold and warm start of the bed, pod start latency p50/p95 over 20 pods
	go build -o $(BED_BIN) ./test/bed/cmd/haredis-bed
	$(BED_BIN) bench --pods 20

BENCHES += bench-bed
