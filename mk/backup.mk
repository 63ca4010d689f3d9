# Backups to S3-compatible object storage: the object store client
# (internal/objectstore), the SeaweedFS its tests run against
# (internal/s3test; built by setup-seaweedfs in mk/bed.mk) and the backup
# benchmark (hack/bench/backup); and the online import of an RDB file
# (internal/rdbimport).

BACKUP_PKGS := ./internal/objectstore/... ./internal/rdbimport/... ./internal/s3test/... ./hack/bench/backup/...
PARTS_PKGS  += $(BACKUP_PKGS)

##@ Backups

.PHONY: test-backup
test-backup: setup-seaweedfs ## Tests of the object store client against a real S3 server (SeaweedFS on loopback)
	$(GO_TEST) -count=1 -timeout 10m $(BACKUP_PKGS)

.PHONY: vet-backup
vet-backup: ## go vet and staticcheck of the backup packages
	go vet $(BACKUP_PKGS)
	$(TOOLS) staticcheck $(BACKUP_PKGS)

# Size of bench-backup's data set; a quick try: make bench-backup BACKUP_BENCH_SIZE_MIB=128
BACKUP_BENCH_SIZE_MIB ?= 1024

.PHONY: bench-backup
bench-backup: setup-packages setup-seaweedfs ## Backup of a 1 GiB data set to S3 (SeaweedFS) by the instance manager vs redis-cli --rdb, the primary's p99 and the manager's RSS meanwhile, restore time (real processes on loopback; ends with a bench: line)
	go run ./hack/bench/backup -size-mib $(BACKUP_BENCH_SIZE_MIB)

BENCHES += bench-backup
