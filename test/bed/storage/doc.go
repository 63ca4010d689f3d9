// Package storage gives the test bed persistent volumes that behave like
// real disks: a dynamic provisioner (sig-storage-lib-external-provisioner)
// behind the default StorageClass `standard` makes each volume an ext4 file
// system in a sparse image file, loop-mounted on the host; a small resizer
// grows the image and the mounted file system online when a PVC asks for
// more, then records the new capacity on the PV and the PVC, as the CSI
// external-resizer does.
package storage
