package specs

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// DefaultStorageSize is used when spec.redis.storage.size is unset (the
// schema defaults it; this covers objects created without the defaults).
var DefaultStorageSize = resource.MustParse("1Gi")

// InstancePVC builds the volume of instance name. It has no owner reference
// on purpose: a PVC may hold the only copy of the data (safety rule 6), so
// only the finalizer deletes it, and only when keepAfterDeletion is false.
func InstancePVC(rf *haredisv1.RedisFailover, name string) *corev1.PersistentVolumeClaim {
	meta := objectMeta(rf, name, ComponentRedis)
	meta.OwnerReferences = nil
	meta.Labels[haredisv1.LabelRedisInstance] = name
	size := StorageSize(rf)
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: meta,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: rf.Spec.Redis.Storage.StorageClassName,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
}

// StorageSize is the size every instance's volume must have.
func StorageSize(rf *haredisv1.RedisFailover) resource.Quantity {
	if s := rf.Spec.Redis.Storage.Size; s != nil {
		return *s
	}
	return DefaultStorageSize
}

func metav1LabelSelector(l map[string]string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: l}
}
