# The Sentinel-aware RESP proxy.

PROXY_DEB_PACKAGES := redis-server redis-tools haproxy

.PHONY: bench-proxy
bench-proxy: ## redis-benchmark direct vs haredis proxy vs HAProxy (prints ratios, ends with a bench: line)
	@hack/setup-packages.sh $(PROXY_DEB_PACKAGES)
	go run ./hack/bench/proxy

PROXY_PKGS := ./internal/resp/... ./internal/sentinel/... ./internal/proxy/... ./internal/proxyapi/... ./internal/redistest/... ./hack/bench/proxy/...
PARTS_PKGS += $(PROXY_PKGS)

.PHONY: test-proxy
test-proxy: setup-packages ## Tests of the proxy (io_uring and plain system calls), its RESP framing, Sentinel watcher and process helpers
	$(GO_TEST) -count=1 -timeout 15m $(PROXY_PKGS)
	HAREDIS_PROXY_NO_IO_URING=1 $(GO_TEST) -count=1 -timeout 15m ./internal/proxy/...

.PHONY: fuzz-resp
fuzz-resp: ## Fuzz the RESP framing for a while (FUZZTIME, default 60s each)
	$(GO_TEST) -run '^$$' -fuzz FuzzReplyFrames -fuzztime $(or $(FUZZTIME),60s) ./internal/resp
	$(GO_TEST) -run '^$$' -fuzz FuzzReplyLen -fuzztime $(or $(FUZZTIME),60s) ./internal/resp
	$(GO_TEST) -run '^$$' -fuzz FuzzCommandLen -fuzztime $(or $(FUZZTIME),60s) ./internal/resp

BENCHES += bench-proxy
