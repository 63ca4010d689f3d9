# Backups to S3-compatible object storage: the object store client
# (internal/objectstore) and the SeaweedFS its tests run against
# (internal/s3test; built by setup-seaweedfs in mk/bed.mk).

BACKUP_PKGS := ./internal/objectstore/... ./internal/s3test/...
PARTS_PKGS  += $(BACKUP_PKGS)

##@ Backups

.PHONY: test-backup
test-backup: setup-seaweedfs ## Tests of the object store client against a real S3 server (SeaweedFS on loopback)
	$(GO_TEST) -count=1 -timeout 10m $(BACKUP_PKGS)

.PHONY: vet-backup
vet-backup: ## go vet and staticcheck of the backup packages
	go vet $(BACKUP_PKGS)
	$(TOOLS) staticcheck $(BACKUP_PKGS)
