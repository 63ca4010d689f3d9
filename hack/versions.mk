# Versions of the test bed's parts, built from their Go modules by `make setup`.
# The bin/ folder is keyed by these, so a change here builds the new version
# beside the old one and never reuses a stale binary.
KUBE_VERSION   := v1.37.2
ETCD_VERSION   := v3.6.16
# SeaweedFS has no tagged Go module versions; this pseudo-version is the
# commit hack/seaweedfs/go.mod requires (a test checks they agree).
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
