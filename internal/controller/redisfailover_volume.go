package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
)

// volumeUsedPercent is how full a volume of capacity bytes is, from what
// its instance measured: the filesystem's use when the filesystem is the
// volume (its size within twice the capacity: filesystems keep some room
// of their own, and provisioners round up), else the data files against
// the capacity (a directory on a disk that other volumes share). Rounded
// up, at most 100; nil when nothing was measured.
func volumeUsedPercent(capacity int64, v *instanceapi.Volume) *int32 {
	if v == nil || capacity <= 0 {
		return nil
	}
	used, size := v.DataBytes, capacity
	if v.FilesystemBytes > 0 && v.FilesystemBytes <= 2*capacity {
		used, size = v.FilesystemBytes-v.FilesystemFreeBytes, v.FilesystemBytes
	}
	if used < 0 {
		used = 0
	}
	pct := (used*100 + size - 1) / size
	return ptr.To(int32(min(pct, 100)))
}

// recordVolumes gives a Warning event when an instance's volume passes
// haredisv1.VolumeNearlyFullPercent (once per crossing: the status
// before this reconcile says where it was).
func (r *RedisFailoverReconciler) recordVolumes(rf *haredisv1.RedisFailover, before *haredisv1.RedisFailoverStatus) {
	was := map[string]int32{}
	if before != nil {
		for _, i := range before.Instances {
			if i.StorageUsedPercent != nil {
				was[i.Name] = *i.StorageUsedPercent
			}
		}
	}
	for _, i := range rf.Status.Instances {
		if i.StorageUsedPercent == nil {
			continue
		}
		now := *i.StorageUsedPercent
		if now < haredisv1.VolumeNearlyFullPercent || was[i.Name] >= haredisv1.VolumeNearlyFullPercent {
			continue
		}
		r.event(rf, corev1.EventTypeWarning, haredisv1.EventVolumeNearlyFull, "CheckVolume",
			"%s: its volume of %s is %d%% full; an AOF rewrite or a snapshot needs room for a second copy of the data set: grow spec.redis.storage.size (docs/operations.md, Grow the volumes)",
			i.Name, i.Storage, now)
	}
}
