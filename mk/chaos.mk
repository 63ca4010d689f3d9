# Fault suite (test/chaos): seeded random sequences of operations and faults
# against one RedisFailover on the test bed. See docs/chaos.md.

CHAOS_STEPS ?= 8
CHAOS_PKGS  := ./test/chaos/... ./hack/bench/chaos/...
PARTS_PKGS  += $(CHAOS_PKGS)

##@ Fault suite

.PHONY: chaos
chaos: setup setup-bed ## Fault sequences on the bed (root): SEED=N replays one, SEEDS=N runs N random ones (CHAOS_STEPS=8 steps each), PLAN=file.json a hand-written one; POOL=1 runs the RedisFailover on a SentinelPool
	@if [ -n "$(SEED)" ]; then export CHAOS_SEED="$(SEED)"; fi; \
	if [ -n "$(SEEDS)" ]; then export CHAOS_SEEDS="$(SEEDS)"; fi; \
	if [ -n "$(PLAN)" ]; then export CHAOS_PLAN="$(abspath $(PLAN))"; fi; \
	if [ -n "$(POOL)" ]; then export CHAOS_POOL=1; fi; \
	CHAOS_STEPS="$(CHAOS_STEPS)" $(GO_TEST) -count=1 -timeout 0 -v -run 'TestChaos$$' ./test/chaos/

.PHONY: chaos-plan
chaos-plan: ## Print the steps of SEED=N (or of SEEDS=N random seeds) without running them; JSON=1 in the format PLAN= reads
	go run ./hack/bench/chaos -plan $(if $(JSON),-json) $(if $(SEED),-seed $(SEED),-sequences $(or $(SEEDS),1)) -steps $(CHAOS_STEPS)

.PHONY: vet-chaos
vet-chaos: ## go vet and staticcheck of the fault suite
	go vet $(CHAOS_PKGS)
	$(TOOLS) staticcheck $(CHAOS_PKGS)

.PHONY: test-chaos
test-chaos: setup setup-bed ## The fault suite's unit tests and its fixed seeds (root; the part of make test that is the fault suite)
	$(GO_TEST) -count=1 -timeout 30m $(CHAOS_PKGS)

.PHONY: bench-chaos
bench-chaos: setup setup-bed ## 30 random fault sequences of 8 steps on the bed, or SEED_LIST=a,b,... again (root; about an hour; ends with a bench: line)
	go run ./hack/bench/chaos -sequences $(or $(SEEDS),30) -steps $(CHAOS_STEPS) $(if $(SEED_LIST),-seeds $(SEED_LIST))

BENCHES += bench-chaos
