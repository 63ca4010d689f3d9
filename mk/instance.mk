# Instance manager (haredis instance): see docs/instance-manager.md.

INSTANCE_PKGS := ./internal/acl/... ./internal/engine/... ./internal/instanceconfig/... ./internal/instanceapi/... ./internal/redisconf/... ./internal/redisinfo/... \
	./internal/bootrole/... ./internal/quorum/... ./internal/supervise/... ./internal/atomicfile/... ./internal/secretfile/... ./internal/certs/... ./internal/metrics/... \
	./internal/instance/... ./internal/rdbstream/... ./cmd/haredis/...
PARTS_PKGS += $(INSTANCE_PKGS)

##@ Instance manager

.PHONY: test-instance
test-instance: setup-packages setup-seaweedfs ## Unit and integration tests of the instance manager (real redis-server and redis-sentinel, SeaweedFS for backups)
	$(GO_TEST) -count=1 -timeout 10m $(INSTANCE_PKGS)

.PHONY: vet-instance
vet-instance: ## go vet and staticcheck of the instance manager's packages
	go vet $(INSTANCE_PKGS)
	$(TOOLS) staticcheck $(INSTANCE_PKGS)

# Double colon: every part adds its own golden files to this target.
.PHONY: test-update-golden
test-update-golden:: ## Rewrite golden files (redis.conf rendering) from the current code
	$(GO_TEST) -count=1 ./internal/redisconf/ -run Golden -update
