# Operator (haredis operator, internal/specs, internal/controller): see docs/architecture.md.

OPERATOR_PKGS := ./internal/specs/... ./internal/sentinelconf/... ./internal/controller/... ./test/integration/...

##@ Operator

.PHONY: test-operator
test-operator: ## Unit and integration tests of the operator (real kube-apiserver, redis-server, redis-sentinel)
	$(GO_TEST) -count=1 -timeout 15m $(OPERATOR_PKGS)

.PHONY: vet-operator
vet-operator: ## go vet and staticcheck of the operator's packages
	go vet $(OPERATOR_PKGS) ./cmd/haredis/...
	$(TOOLS) staticcheck $(OPERATOR_PKGS) ./cmd/haredis/...

test-update-golden:: ## Rewrite the operator's golden files (objects built by internal/specs)
	$(GO_TEST) -count=1 ./internal/specs/ -run Golden -update
