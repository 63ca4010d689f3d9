# Installing haredis on a cluster: the operator's image (hack/image, its
# own Go module so that go-containerregistry stays out of go.mod).

INSTALL_PKGS := ./test/chart/... ./hack/chartdoc/...
PARTS_PKGS += $(INSTALL_PKGS)

##@ Install

.PHONY: image
image: ## The operator's OCI image, built without a container engine, as bin/haredis-image.tar (VERSION=vX.Y.Z; docker load, kind load image-archive, crane push, skopeo copy)
	cd hack/image && go run . -repo $(CURDIR) -o $(BIN)/haredis-image.tar -name haredis/haredis -version $(VERSION) \
		-revision $$(git rev-parse HEAD) -created $$(git log -1 --format=%ct)

.PHONY: test-image
test-image: ## The image is reproducible (two builds of a commit, one digest), non-root, labelled, and its binary runs
	cd hack/image && $(GO_TEST) -count=1 ./...

.PHONY: test-monitoring
test-monitoring: ## The chart's alert rules and Grafana dashboard: every expression parsed by Prometheus's parser, every metric documented (hack/monitoring)
	cd hack/monitoring && $(GO_TEST) -count=1 ./...

test: test-image test-monitoring

.PHONY: test-chart
test-chart: ## The Helm chart: helm lint, and what helm template renders (the end-to-end install is TestHelmChartInstalls in test/e2e)
	$(GO_TEST) -count=1 $(INSTALL_PKGS)
