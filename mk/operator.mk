# Operator (haredis operator, internal/specs, internal/controller): see docs/architecture.md.

OPERATOR_PKGS := ./api/... ./internal/version/... ./hack/crdref/... \
	./test/controlplane/... ./test/generated/... ./internal/specs/... ./internal/sentinelrun/... ./internal/controller/... ./test/integration/... ./test/e2e/... ./test/operatorbed/... ./hack/bench/failover/... ./hack/bench/recovery/... ./hack/bench/switchover/... ./hack/bench/scale/... ./hack/bench/pool/... ./hack/bench/internal/... ./internal/switchover/... ./internal/writeload/...
PARTS_PKGS += $(OPERATOR_PKGS)

##@ Operator

.PHONY: test-operator
test-operator: setup ## Unit and integration tests of the operator (real kube-apiserver, redis-server, redis-sentinel; end-to-end skipped)
	$(GO_TEST) -count=1 -short -timeout 15m $(OPERATOR_PKGS)

.PHONY: vet-operator
vet-operator: ## go vet and staticcheck of the operator's packages
	go vet $(OPERATOR_PKGS) ./cmd/haredis/...
	$(TOOLS) staticcheck $(OPERATOR_PKGS) ./cmd/haredis/...

test-update-golden:: ## Rewrite the operator's golden files (objects built by internal/specs)
	$(GO_TEST) -count=1 ./internal/specs/ -run Golden -update

.PHONY: test-e2e-operator
test-e2e-operator: setup setup-bed ## End-to-end tests of the operator on the test bed (root; about 10 minutes)
	$(GO_TEST) -count=1 -timeout 30m -v ./test/e2e/

.PHONY: bench-failover
bench-failover: setup setup-bed ## SIGKILL of the primary under load, ten trials per engine: haredis on the bed vs the same engine's plain server + Sentinel, Valkey and Redis (root; ends with a bench: line per engine)
	go run ./hack/bench/failover

BENCHES += bench-failover

.PHONY: bench-recovery
bench-recovery: setup setup-bed ## Every pod of a RedisFailover deleted at once under load (default grace, then grace 0), five trials each per engine: time until writes through REDIS_URL and Ready are back, writes lost, vs the same engine's plain server + Sentinel all SIGKILLed and restarted, Valkey and Redis (root; ends with a bench: line per engine)
	go run ./hack/bench/recovery

BENCHES += bench-recovery

.PHONY: bench-scale
bench-scale: setup setup-bed ## 50 RedisFailovers at once: time to Ready, the operator's RSS, CPU and reconcile latency, status writes, label move during rolling updates (root; ends with a bench: line)
	go run ./hack/bench/scale

BENCHES += bench-scale

.PHONY: bench-pool
bench-pool: setup setup-bed ## Ten RedisFailovers with dedicated sentinels vs on one SentinelPool of three: sentinel processes, their RSS and CPU at rest, failover p50/max over ten SIGKILLs (root; ends with a bench: line)
	go run ./hack/bench/pool

BENCHES += bench-pool

.PHONY: bench-switchover
bench-switchover: setup setup-bed ## Ten planned switchovers under load and a rolling update per engine: haredis on the bed vs the same engine's plain SENTINEL FAILOVER, Valkey and Redis (root; ends with a bench: line per engine)
	go run ./hack/bench/switchover

BENCHES += bench-switchover
