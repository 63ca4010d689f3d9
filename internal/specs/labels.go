package specs

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Label keys. The app.kubernetes.io ones follow Kubernetes' recommended labels.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// Components.
const (
	ComponentRedis    = "redis"
	ComponentSentinel = "sentinel"
	ComponentProxy    = "proxy"
)

// Ports.
const (
	RedisPort    = 6379
	SentinelPort = 26379
	StatusPort   = 8080
	// InstanceMetricsPort serves the instance manager's metrics alone,
	// without the manager token.
	InstanceMetricsPort = 9121
	// ProxyAdminPort serves the proxy's admin endpoint (pause, resume,
	// readiness, metrics).
	ProxyAdminPort = 9090
)

// Labels of every object a RedisFailover owns for one component.
func Labels(rf *haredisv1.RedisFailover, component string) map[string]string {
	return map[string]string{
		LabelName:      "haredis",
		LabelInstance:  rf.Name,
		LabelComponent: component,
		LabelManagedBy: ManagedBy,
	}
}

// ManagedBy is the value of app.kubernetes.io/managed-by on every object
// haredis creates; the operator caches only objects that carry it.
const ManagedBy = "haredis"

// Selector selects the pods of one component of a RedisFailover.
func Selector(rf *haredisv1.RedisFailover, component string) map[string]string {
	return map[string]string{LabelInstance: rf.Name, LabelComponent: component}
}

// OwnerReference makes the RedisFailover the controller of an object, so
// that deleting it deletes the object.
func OwnerReference(rf *haredisv1.RedisFailover) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         haredisv1.GroupVersion.String(),
		Kind:               "RedisFailover",
		Name:               rf.Name,
		UID:                rf.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

func objectMeta(rf *haredisv1.RedisFailover, name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       rf.Namespace,
		Labels:          Labels(rf, component),
		OwnerReferences: []metav1.OwnerReference{OwnerReference(rf)},
	}
}
