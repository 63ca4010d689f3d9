// Package storage gives the test bed persistent volumes that behave like
// real disks: a dynamic provisioner (sig-storage-lib-external-provisioner)
// behind the default StorageClass `standard` makes each volume a
// size-limited tmpfs mounted on the host (memory-backed: it lasts as long as
// the bed); a small resizer remounts it bigger while pods use it when a PVC
// asks for more, then records the new capacity on the PV and the PVC, as the
// CSI external-resizer does.
package storage
