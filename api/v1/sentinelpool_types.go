package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SentinelPool is one set of sentinels that watches many RedisFailovers:
// each RedisFailover that names it in spec.sentinel.poolRef is monitored by
// every sentinel of the pool under its own master name, with its own
// credentials, and fails over on its own.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp,categories=haredis
// +kubebuilder:printcolumn:name="Sentinels",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readySentinels`
// +kubebuilder:printcolumn:name="Failovers",type=integer,JSONPath=`.status.failoverCount`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 50",message="metadata.name: must be at most 50 characters, so that the names of the objects haredis derives from it (NAME-1, NAME-headless, ...) stay valid; choose a shorter name"
type SentinelPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec   SentinelPoolSpec   `json:"spec,omitempty"`
	Status SentinelPoolStatus `json:"status,omitempty"`
}

// SentinelPoolList is a list of SentinelPool.
//
// +kubebuilder:object:root=true
type SentinelPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SentinelPool `json:"items"`
}

// MaxPoolSentinels is the most sentinels a pool may have (the schema's
// bound on spec.replicas).
const MaxPoolSentinels = 9

// SentinelPoolSpec is what the user asks of a pool.
type SentinelPoolSpec struct {
	// Replicas is the number of sentinels: odd, so that a majority can
	// always elect the one that fails a primary over, and at least 3.
	// Each sentinel is a Pod NAME-N; a new count is applied without a
	// restart (the quorum of every master it watches follows).
	// +kubebuilder:default=3
	// +kubebuilder:validation:XValidation:rule="self >= 3 && self % 2 == 1",message="spec.replicas: must be odd and at least 3 (3, 5, 7) so that a majority can elect the sentinel that fails a primary over"
	// +kubebuilder:validation:XValidation:rule="self <= 9",message="spec.replicas: must be at most 9"
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Image of the sentinel containers: Valkey or Redis, as for a
	// RedisFailover's spec.redis.image. A sentinel of either engine
	// watches instances of both.
	// +kubebuilder:default="valkey/valkey:8.0"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(docker[.]io/)?(library/)?redis:[0-6]([.-].*)?$') && !self.matches('^(docker[.]io/)?(valkey/|library/)?valkey:([0-6]|7[.][01])([.-].*)?$')",message="spec.image: haredis runs Redis 7.0 and later, Valkey 7.2 and later; use for example valkey/valkey:8.0 or redis:7.2"
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the sentinel containers.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// NamespaceSelector says which namespaces' RedisFailovers may use the
	// pool, besides the pool's own namespace (always admitted). Unset:
	// the pool's namespace only; {} (empty): every namespace. Every
	// tenant of a pool depends on the same sentinels: admit only
	// namespaces whose owners accept that.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Resources of the sentinel container. A sentinel needs little: about
	// 10 MiB and a few millicores per hundred masters it watches.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Scheduling places the sentinel pods; when empty, haredis spreads them
	// over nodes and zones on a best-effort basis.
	// +optional
	Scheduling `json:",inline"`
}

// SentinelPoolStatus is what the pool's sentinels say.
type SentinelPoolStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase sums the conditions up: Creating, Ready or Degraded.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Conditions: Ready (every sentinel answers and every master it serves
	// has its quorum).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ReadySentinels counts sentinel pods that are ready.
	// +optional
	ReadySentinels int32 `json:"readySentinels,omitempty"`
	// FailoverCount counts the RedisFailovers the pool serves.
	// +optional
	FailoverCount int32 `json:"failoverCount,omitempty"`
	// Failovers are the RedisFailovers the pool serves, with the health of
	// each one's master as the pool's sentinels see it.
	// +optional
	Failovers []PoolMember `json:"failovers,omitempty"`
	// Endpoint is host:port of the pool's sentinel Service.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// PoolMember is one RedisFailover a SentinelPool serves.
type PoolMember struct {
	// Namespace and Name of the RedisFailover.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// MasterName is the name the pool's sentinels monitor it under.
	// +optional
	MasterName string `json:"masterName,omitempty"`
	// Monitoring counts the pool's sentinels that monitor it.
	// +optional
	Monitoring int32 `json:"monitoring,omitempty"`
	// Healthy is true when SENTINEL CKQUORUM says the sentinels that can
	// reach it are enough to agree it is down and to elect a leader.
	// +optional
	Healthy bool `json:"healthy,omitempty"`
	// Problem says what keeps it from being healthy.
	// +optional
	Problem string `json:"problem,omitempty"`
}

// SentinelPoolReference names a SentinelPool, in the RedisFailover's
// namespace unless another one is given.
type SentinelPoolReference struct {
	// Name of the SentinelPool.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=50
	Name string `json:"name"`
	// Namespace of the SentinelPool; the RedisFailover's own when empty.
	// The pool must admit the RedisFailover's namespace
	// (spec.namespaceSelector).
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}
