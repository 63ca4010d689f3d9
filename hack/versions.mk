# Versions of the test bed's parts, built from their Go modules by `make setup`.
# The bin/ folder is keyed by these, so a change here builds the new version
# beside the old one and never reuses a stale binary.
KUBE_VERSION   := v1.37.2
ETCD_VERSION   := v3.6.16
