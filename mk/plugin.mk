# The kubectl plugin (kubectl haredis: internal/plugin, cmd/kubectl-haredis): see docs/plugin.md.

PLUGIN_PKGS := ./internal/plugin/... ./cmd/kubectl-haredis/... ./hack/krew/...
PARTS_PKGS += $(PLUGIN_PKGS)

# The platforms of the release archives and of the krew manifest
# (plugins/haredis.yaml; hack/krew checks that they agree).
PLUGIN_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
VERSION ?= dev
DIST := $(BIN)/dist

##@ Plugin

.PHONY: test-plugin
test-plugin: setup ## Unit tests of the plugin (golden files) and its integration tests against a real API server
	$(GO_TEST) -count=1 $(PLUGIN_PKGS)
	$(GO_TEST) -count=1 -short -run 'TestPlugin|TestGeneratedManifestsApply' ./test/integration/

.PHONY: vet-plugin
vet-plugin: ## go vet and staticcheck of the plugin's packages
	go vet $(PLUGIN_PKGS)
	$(TOOLS) staticcheck $(PLUGIN_PKGS)

test-update-golden:: ## Rewrite the plugin's golden files (everything kubectl haredis prints)
	$(GO_TEST) -count=1 ./internal/plugin/ -update

.PHONY: plugin-dist
plugin-dist: ## Archives of kubectl-haredis for every platform and the krew manifest for them, in bin/dist (VERSION=vX.Y.Z)
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for p in $(PLUGIN_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; dir=$(DIST)/kubectl-haredis_$${os}_$${arch}; exe=kubectl-haredis; \
		[ $$os = windows ] && exe=kubectl-haredis.exe; \
		echo "building $$dir/$$exe"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '-s -w -X github.com/haredis/haredis/internal/version.Version=$(VERSION)' -o $$dir/$$exe ./cmd/kubectl-haredis; \
		[ $$os = windows ] || cp plugins/kubectl_complete-haredis $$dir/; \
		tar -czf $$dir.tar.gz -C $$dir .; \
	done
	go run ./hack/krew -tag $(VERSION) -dist $(DIST) < plugins/haredis.yaml > $(DIST)/haredis.yaml
	@echo "bin/dist/haredis.yaml: kubectl krew install --manifest=$(DIST)/haredis.yaml --archive=$(DIST)/kubectl-haredis_$$(go env GOOS)_$$(go env GOARCH).tar.gz"
