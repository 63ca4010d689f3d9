package v1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisFailover is one highly available Redis: a primary, its replicas, Redis
// Sentinel to fail over, and optionally a proxy that always reaches the primary.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rf,categories=haredis
// +kubebuilder:printcolumn:name="Primary",type=string,JSONPath=`.status.currentPrimary`
// +kubebuilder:printcolumn:name="Instances",type=integer,JSONPath=`.spec.redis.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyInstances`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 50",message="metadata.name: must be at most 50 characters, so that the names of the objects haredis derives from it (NAME-primary, NAME-sentinel-1, ...) stay valid; choose a shorter name"
type RedisFailover struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec   RedisFailoverSpec   `json:"spec,omitempty"`
	Status RedisFailoverStatus `json:"status,omitempty"`
}

// RedisFailoverList is a list of RedisFailover.
//
// +kubebuilder:object:root=true
type RedisFailoverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RedisFailover `json:"items"`
}

// RedisFailoverSpec is what the user asks for.
//
// +kubebuilder:validation:XValidation:rule="!has(self.durability) || !has(self.durability.minReplicasToWrite) || !has(self.redis) || !has(self.redis.replicas) || self.durability.minReplicasToWrite < self.redis.replicas",message="spec.durability.minReplicasToWrite: must be lower than spec.redis.replicas (N instances have N-1 replicas); at or above it the primary would refuse every write. Lower it, or raise spec.redis.replicas first"
// +kubebuilder:validation:XValidation:rule="has(self.bootstrap) == has(oldSelf.bootstrap)",message="spec.bootstrap: cannot be added or removed after the RedisFailover is created (it is read only then); create a new RedisFailover to import other data"
// +kubebuilder:validation:XValidation:rule="!has(self.bootstrap) || !has(self.bootstrap.fromRedis) || (has(self.auth) && (has(self.auth.passwordSecret) || (has(self.auth.enabled) && !self.auth.enabled)))",message="spec.bootstrap.fromRedis: the source must accept the RedisFailover's password (the proxy passes the clients' AUTH on to it until the cutover): set spec.auth.passwordSecret to the Secret that holds the source's password, or spec.auth.enabled: false for a source without one"
// +kubebuilder:validation:XValidation:rule="(has(self.tls) && self.tls.enabled) == (has(oldSelf.tls) && oldSelf.tls.enabled)",message="spec.tls.enabled: cannot be changed on an existing RedisFailover: its pods, sentinels and clients would disagree on whether to speak TLS. Create a new RedisFailover with the other setting and move the data with a live import (docs/import.md)"
// +kubebuilder:validation:XValidation:rule="!has(self.sentinel) || !has(self.sentinel.poolRef) || !has(self.tls) || !self.tls.enabled",message="spec.sentinel.poolRef: a SentinelPool serves RedisFailovers without TLS (its sentinels speak plaintext); remove spec.sentinel.poolRef to get dedicated sentinels, which speak TLS"
type RedisFailoverSpec struct {
	// Redis describes the data instances: one primary and its replicas.
	// +kubebuilder:default={}
	Redis RedisSpec `json:"redis,omitempty"`

	// Sentinel describes the sentinels that detect failure and elect a new
	// primary: dedicated to this RedisFailover, or a shared SentinelPool.
	// +kubebuilder:default={}
	Sentinel SentinelSpec `json:"sentinel,omitempty"`

	// Proxy describes the Sentinel-aware proxy behind the Service NAME, the
	// single REDIS_URL for clients without Sentinel support.
	// +kubebuilder:default={}
	Proxy ProxySpec `json:"proxy,omitempty"`

	// Auth describes how clients, replicas and sentinels authenticate.
	// +kubebuilder:default={}
	Auth AuthSpec `json:"auth,omitempty"`

	// Durability bounds how many acknowledged writes a failover can lose.
	// +kubebuilder:default={}
	Durability DurabilitySpec `json:"durability,omitempty"`

	// TLS encrypts every connection: clients to the instances, the
	// sentinels and the proxy, replication, and the sentinels' links.
	// Chosen when the RedisFailover is created.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// NetworkPolicy restricts who may reach the pods, where the cluster's
	// network plugin enforces NetworkPolicies (elsewhere they change
	// nothing).
	// +kubebuilder:default={}
	NetworkPolicy NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// Bootstrap seeds a new RedisFailover with data: from a backup, an RDB
	// file in object storage, or a live Redis. It is read only at creation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.bootstrap: is read only when the RedisFailover is created and cannot be changed afterwards; create a new RedisFailover to import other data"
	Bootstrap *BootstrapSpec `json:"bootstrap,omitempty"`

	// Backup configures scheduled backups to object storage.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// Hibernate, when true, removes every pod of the RedisFailover (the
	// proxies first, then the sentinels, then the instances, each stopped
	// gracefully so that it writes its data set to its volume) and keeps
	// its volumes, Services and Secrets; nothing runs and nothing is
	// served. Set it back to false to wake it: the pods come back on their
	// volumes, with their data. `kubectl haredis hibernate on|off` sets it.
	// +optional
	Hibernate bool `json:"hibernate,omitempty"`

	// Fenced, when true, makes every instance refuse writes (clients get
	// NOREPLICAS: min-replicas-to-write is set above any count of
	// replicas) while reads, replication and Sentinel go on: for forensics,
	// or to stop the writers of a controlled migration. The primary stays
	// in its Service for reads, a failover keeps the fence, and planned
	// switchovers wait (a switchover lowers min-replicas-to-write for a
	// moment). `kubectl haredis fence|unfence` sets it.
	// +optional
	Fenced bool `json:"fenced,omitempty"`
}

// TLSSpec turns TLS on and names the certificate.
type TLSSpec struct {
	// Enabled makes the instances, the sentinels and the proxy speak TLS
	// only, on their usual ports (6379 and 26379): a plaintext client is
	// refused. NAME-connection then gives rediss:// URLs and the CA.
	Enabled bool `json:"enabled"`

	// SecretName names a Secret in the RedisFailover's namespace with
	// tls.crt, tls.key and ca.crt, as cert-manager's Certificate writes
	// it. The certificate must name the Services clients use (NAME,
	// NAME-primary, NAME-replicas, NAME-sentinel, with their namespace
	// forms) and allow server and client authentication. A renewed
	// certificate in the Secret is taken without a restart. When empty,
	// haredis issues one into NAME-tls from its own CA (NAME-tls-ca),
	// valid 90 days and renewed after 60.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// PersistenceMode says how an instance keeps its data set on its volume.
// +kubebuilder:validation:Enum=AOF;RDB;None
type PersistenceMode string

const (
	// PersistenceAOF appends every write to an append-only file, fsynced
	// every second, with an RDB preamble on rewrite.
	PersistenceAOF PersistenceMode = "AOF"
	// PersistenceRDB takes periodic RDB snapshots only.
	PersistenceRDB PersistenceMode = "RDB"
	// PersistenceNone keeps nothing on disk; a restarted instance comes back
	// empty and resynchronises from the primary.
	PersistenceNone PersistenceMode = "None"
)

// ConfigValue is the value of one Redis configuration parameter.
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="!self.contains('\\n') && !self.contains('\\r')",message="spec.redis.config: a value must be on one line; remove the line break"
type ConfigValue string

// RedisSpec describes the data instances.
type RedisSpec struct {
	// Image is the server's container image: Valkey (valkey/valkey) or
	// Redis (redis), Valkey 7.2 and later, Redis 7.0 and later. The image
	// stays stock: haredis copies its instance manager in with an init
	// container, and learns the engine and version from the server itself.
	// Changing it is a rolling update (replicas, a switchover, the old
	// primary); a move the data would not survive is refused.
	// +kubebuilder:default="valkey/valkey:8.0"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(docker[.]io/)?(library/)?redis:[0-6]([.-].*)?$') && !self.matches('^(docker[.]io/)?(valkey/|library/)?valkey:([0-6]|7[.][01])([.-].*)?$')",message="spec.redis.image: haredis runs Redis 7.0 and later, Valkey 7.2 and later; use for example valkey/valkey:8.0 or redis:7.2"
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the Redis containers.
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Replicas is the number of Redis instances: one primary and
	// replicas-1 replicas of it. Each instance is a Pod NAME-N with its own
	// PersistentVolumeClaim.
	// +kubebuilder:default=3
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="spec.redis.replicas: must be at least 1 (one primary); use 3 for a primary and two replicas"
	// +kubebuilder:validation:XValidation:rule="self <= 32",message="spec.redis.replicas: must be at most 32; a primary cannot feed more replicas well"
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Resources of the Redis container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Storage of every instance: one PersistentVolumeClaim each.
	// +kubebuilder:default={}
	// +optional
	Storage StorageSpec `json:"storage,omitempty"`

	// Persistence says how an instance keeps its data on its volume: AOF
	// (append-only file fsynced every second, the default), RDB (periodic
	// snapshots) or None (nothing on disk).
	// +kubebuilder:default=AOF
	// +optional
	Persistence PersistenceMode `json:"persistence,omitempty"`

	// Config is the parameter group: Redis configuration parameters by
	// name, for example {"notify-keyspace-events": "gxE", "maxmemory-policy":
	// "allkeys-lru"}. Parameters that haredis sets itself are refused: port,
	// bind, dir, dbfilename, appendfilename, appenddirname, replicaof,
	// slaveof, requirepass, masterauth, masteruser, include, daemonize,
	// pidfile, logfile, unixsocket, unixsocketperm, protected-mode,
	// rename-command, replica-announce-ip/port, slave-announce-ip/port,
	// aclfile, supervised; appendonly and appendfsync (set
	// spec.redis.persistence); min-replicas-to-write and min-replicas-max-lag
	// and their min-slaves aliases (set spec.durability).
	// +kubebuilder:validation:MaxProperties=256
	// +kubebuilder:validation:XValidation:rule="!('port' in self)",message="spec.redis.config: port is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('bind' in self)",message="spec.redis.config: bind is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('dir' in self)",message="spec.redis.config: dir is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('dbfilename' in self)",message="spec.redis.config: dbfilename is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('appendfilename' in self)",message="spec.redis.config: appendfilename is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('appenddirname' in self)",message="spec.redis.config: appenddirname is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('replicaof' in self)",message="spec.redis.config: replicaof is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('slaveof' in self)",message="spec.redis.config: slaveof is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('requirepass' in self)",message="spec.redis.config: requirepass is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('masterauth' in self)",message="spec.redis.config: masterauth is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('masteruser' in self)",message="spec.redis.config: masteruser is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('include' in self)",message="spec.redis.config: include is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('daemonize' in self)",message="spec.redis.config: daemonize is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('pidfile' in self)",message="spec.redis.config: pidfile is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('logfile' in self)",message="spec.redis.config: logfile is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('unixsocket' in self)",message="spec.redis.config: unixsocket is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('unixsocketperm' in self)",message="spec.redis.config: unixsocketperm is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('protected-mode' in self)",message="spec.redis.config: protected-mode is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('rename-command' in self)",message="spec.redis.config: rename-command is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('replica-announce-ip' in self)",message="spec.redis.config: replica-announce-ip is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('slave-announce-ip' in self)",message="spec.redis.config: slave-announce-ip is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('replica-announce-port' in self)",message="spec.redis.config: replica-announce-port is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('slave-announce-port' in self)",message="spec.redis.config: slave-announce-port is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('aclfile' in self)",message="spec.redis.config: aclfile is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('supervised' in self)",message="spec.redis.config: supervised is set by haredis itself and cannot be configured; remove it from spec.redis.config"
	// +kubebuilder:validation:XValidation:rule="!('min-replicas-to-write' in self)",message="spec.redis.config: min-replicas-to-write is set from spec.durability; remove it from spec.redis.config and set spec.durability.minReplicasToWrite or spec.durability.maxLag instead"
	// +kubebuilder:validation:XValidation:rule="!('min-slaves-to-write' in self)",message="spec.redis.config: min-slaves-to-write is set from spec.durability; remove it from spec.redis.config and set spec.durability.minReplicasToWrite or spec.durability.maxLag instead"
	// +kubebuilder:validation:XValidation:rule="!('min-replicas-max-lag' in self)",message="spec.redis.config: min-replicas-max-lag is set from spec.durability; remove it from spec.redis.config and set spec.durability.minReplicasToWrite or spec.durability.maxLag instead"
	// +kubebuilder:validation:XValidation:rule="!('min-slaves-max-lag' in self)",message="spec.redis.config: min-slaves-max-lag is set from spec.durability; remove it from spec.redis.config and set spec.durability.minReplicasToWrite or spec.durability.maxLag instead"
	// +kubebuilder:validation:XValidation:rule="!('appendonly' in self)",message="spec.redis.config: appendonly is set from spec.redis.persistence; remove it from spec.redis.config and set spec.redis.persistence to AOF, RDB or None instead"
	// +kubebuilder:validation:XValidation:rule="!('appendfsync' in self)",message="spec.redis.config: appendfsync is set from spec.redis.persistence; remove it from spec.redis.config and set spec.redis.persistence to AOF, RDB or None instead"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.lowerAscii().startsWith('tls-'))",message="spec.redis.config: the tls- parameters are set by haredis itself from spec.tls; remove them from spec.redis.config and set spec.tls instead"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k.lowerAscii() in ['port', 'bind', 'dir', 'dbfilename', 'appendfilename', 'appenddirname', 'replicaof', 'slaveof', 'requirepass', 'masterauth', 'masteruser', 'include', 'daemonize', 'pidfile', 'logfile', 'unixsocket', 'unixsocketperm', 'protected-mode', 'rename-command', 'replica-announce-ip', 'slave-announce-ip', 'replica-announce-port', 'slave-announce-port', 'aclfile', 'supervised', 'min-replicas-to-write', 'min-slaves-to-write', 'min-replicas-max-lag', 'min-slaves-max-lag', 'appendonly', 'appendfsync']))",message="spec.redis.config: a parameter that haredis sets itself is given in another case (Redis compares names without regard to case); remove it from spec.redis.config"
	// +optional
	Config map[string]ConfigValue `json:"config,omitempty"`

	// Scheduling places the Redis pods.
	// +optional
	Scheduling `json:",inline"`
}

// StorageSpec describes the PersistentVolumeClaim of every instance.
type StorageSpec struct {
	// Size of each instance's volume. It can grow (volumes are resized in
	// place when the storage class allows it) but never shrink.
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))",message="spec.redis.storage.size: must be a size greater than zero written like 1Gi or 500Mi"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !isQuantity(string(oldSelf)) || quantity(string(self)).compareTo(quantity(string(oldSelf))) >= 0",message="spec.redis.storage.size: cannot decrease; volumes can only grow. Set it back to the old size or larger"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName of the volumes; empty means the cluster's default.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.redis.storage.storageClassName: cannot be changed after creation; existing volumes stay in their class"
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// KeepAfterDeletion keeps the volumes when the RedisFailover is deleted,
	// so that its data can be recovered, and the volume of a replica removed
	// by a scale down (labelled haredis.dev/detached=true). On by default:
	// haredis never deletes a volume that may hold the only copy of the data
	// unless told to.
	// +kubebuilder:default=true
	// +optional
	KeepAfterDeletion *bool `json:"keepAfterDeletion,omitempty"`
}

// Scheduling places pods on nodes.
type Scheduling struct {
	// NodeSelector restricts the pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the pods. When empty, haredis spreads the pods of one
	// role over nodes on a best-effort basis.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// TopologySpreadConstraints of the pods.
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// PriorityClassName of the pods.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// LocalObjectReference names an object in the RedisFailover's namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeySelector names one key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// SentinelSpec describes the sentinels.
//
// +kubebuilder:validation:XValidation:rule="has(self.poolRef) || !has(self.replicas) || (self.replicas >= 3 && self.replicas % 2 == 1)",message="spec.sentinel.replicas: must be odd and at least 3 (3, 5, 7) so that a majority can elect a new primary; or set spec.sentinel.poolRef to use a shared SentinelPool"
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 9",message="spec.sentinel.replicas: must be at most 9"
type SentinelSpec struct {
	// Replicas is the number of dedicated sentinels. Ignored when poolRef is
	// set.
	// +kubebuilder:default=3
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Image of the sentinel containers; empty means spec.redis.image, so
	// that sentinels run the same engine as their instances.
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(docker[.]io/)?(library/)?redis:[0-6]([.-].*)?$') && !self.matches('^(docker[.]io/)?(valkey/|library/)?valkey:([0-6]|7[.][01])([.-].*)?$')",message="spec.sentinel.image: haredis runs Redis 7.0 and later, Valkey 7.2 and later; use for example valkey/valkey:8.0 or redis:7.2"
	// +optional
	Image string `json:"image,omitempty"`

	// DownAfter is how long an instance must fail to answer before a
	// sentinel considers it down (Sentinel's down-after-milliseconds). Lower
	// means faster failover and more risk of failing over on a short stall.
	// +kubebuilder:default="1s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('100ms') && duration(self) <= duration('10m')",message="spec.sentinel.downAfter: must be a duration between 100ms and 10m written like 500ms, 1s or 1m30s"
	// +optional
	DownAfter *metav1.Duration `json:"downAfter,omitempty"`

	// FailoverTimeout bounds one failover attempt (Sentinel's
	// failover-timeout); an attempt that fails is tried again after twice
	// this long. The default, 10s, is ample for the promotion and the
	// replicas' reconfiguration and keeps a retry within 20 s.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="spec.sentinel.failoverTimeout: must be a duration between 1s and 1h written like 30s or 2m"
	// +optional
	FailoverTimeout *metav1.Duration `json:"failoverTimeout,omitempty"`

	// PoolRef names a SentinelPool to use instead of dedicated sentinels:
	// its sentinels monitor this RedisFailover under its own master name
	// and credentials. Setting it on a running RedisFailover moves it to
	// the pool, removing it moves it back to dedicated sentinels: either
	// way the new sentinels watch it before the old ones let go, without a
	// failover.
	// +optional
	PoolRef *SentinelPoolReference `json:"poolRef,omitempty"`

	// Resources of the sentinel container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Scheduling places the sentinel pods.
	// +optional
	Scheduling `json:",inline"`
}

// ProxySpec describes the Sentinel-aware proxy.
type ProxySpec struct {
	// Enabled deploys the proxy behind the Service NAME, which then is the
	// REDIS_URL. When disabled, the Service NAME reaches the primary directly.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Replicas is the number of proxy pods.
	// +kubebuilder:default=2
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="spec.proxy.replicas: must be at least 1; set spec.proxy.enabled to false to run without a proxy"
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Resources of the proxy container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// NetworkPolicySpec describes the NetworkPolicies NAME-redis,
// NAME-sentinel and NAME-proxy. Whatever they say, the RedisFailover's own
// pods reach each other, the operator reaches every port, and the kubelet
// (traffic from the node) reaches the probes; the instance managers' API
// (port 8080) admits nothing else.
type NetworkPolicySpec struct {
	// Enabled creates the NetworkPolicies; set false to manage traffic
	// with policies of your own.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Clients may reach Redis (6379), the sentinels (26379) and the proxy
	// (6379). Empty: any pod and any address.
	// +optional
	Clients []networkingv1.NetworkPolicyPeer `json:"clients,omitempty"`

	// Metrics may scrape the instances' metrics port (9121) and the
	// proxy's admin port (9090, whose other endpoints need the proxy's
	// token). Empty: any pod and any address.
	// +optional
	Metrics []networkingv1.NetworkPolicyPeer `json:"metrics,omitempty"`
}

// AuthSpec describes authentication.
//
// +kubebuilder:validation:XValidation:rule="!has(self.users) || size(self.users) == 0 || (has(self.enabled) ? self.enabled : true)",message="spec.auth.users: users need auth; remove spec.auth.users or leave spec.auth.enabled true"
// +kubebuilder:validation:XValidation:rule="(has(self.enabled) ? self.enabled : true) == (has(oldSelf.enabled) ? oldSelf.enabled : true)",message="spec.auth.enabled: cannot be changed on an existing RedisFailover: running pods, sentinels and clients would disagree on whether a password is needed. Delete the RedisFailover (its volumes are kept) and create it again with the new setting; see docs/operations.md, Turning authentication on or off"
type AuthSpec struct {
	// Enabled requires a password from clients, replicas and sentinels. On by
	// default; turning it off is allowed and reported as a warning condition.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// PasswordSecret names a Secret key that holds the password. When empty,
	// haredis generates one into the Secret NAME-auth.
	// +optional
	PasswordSecret *SecretKeySelector `json:"passwordSecret,omitempty"`

	// ApplicationRules are the ACL permissions of the application user
	// (Redis's default user, the one REDIS_URL, the proxy and a client that
	// sends only the password use), as Redis ACL rules separated by spaces.
	// When empty: "~* &* +@all -@admin -@dangerous", every key and command
	// except the administrative and dangerous ones (CONFIG, REPLICAOF,
	// FAILOVER, SHUTDOWN, DEBUG, ACL SETUSER, MONITOR, KEYS, FLUSHALL, ...).
	// INFO and ROLE are always allowed (haredis's probes and Sentinel-aware
	// clients use them). Give back what an application needs, for example
	// "~* &* +@all -@admin -@dangerous +keys +flushdb". Only key
	// (~, %R~, %W~), channel (&) and command (+, -) rules are accepted:
	// haredis manages the password and the user's state. Applied live on
	// every instance; rules Redis refuses are reported in the
	// ConfigApplied condition and the instances keep the rules they had.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|[ \\t])([<>#!]|(?i:on|off|reset|nopass|resetpass)([ \\t]|$))')",message="spec.auth.applicationRules: password and state rules (>, <, #, !, on, off, reset, nopass, resetpass) are haredis's; give only key (~), channel (&) and command (+/-) rules"
	// +optional
	ApplicationRules string `json:"applicationRules,omitempty"`

	// Users are Redis users besides the application user, each with its
	// own password and permissions: a worker allowed only its queues' keys,
	// a read-only reporting user. Clients connect as one with its name
	// (AUTH NAME PASSWORD, redis://NAME:PASSWORD@HOST:6379), also through
	// REDIS_URL's proxy. Applied live on every instance (ACL SETUSER); a
	// user removed from the list is removed from the instances; a changed
	// password Secret changes the password. Needs the Redis users of a
	// RedisFailover created by haredis with auth on (status.aclUsers).
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	Users []RedisUser `json:"users,omitempty"`

	// PasswordGracePeriod is how long a previous password keeps working
	// after a rotation: a declared user's, from the change of its Secret;
	// the application password's, from the moment NAME-connection holds
	// the new one. Both are accepted on every instance (and, for the
	// application password, sentinel and proxy) until then, so that
	// clients move to the new one without a failed command. 0s removes the
	// previous password at once. Default 1h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(h|m|s))+$') && duration(self) <= duration('168h')",message="spec.auth.passwordGracePeriod: a duration up to 168h written like 30m, 1h or 0s"
	// +optional
	PasswordGracePeriod *metav1.Duration `json:"passwordGracePeriod,omitempty"`
}

// RedisUser is a Redis user the RedisFailover declares.
type RedisUser struct {
	// Name is the user's name in Redis: letters, digits, '.', '_' and '-';
	// not "default" (the application user) and not starting with
	// "haredis-" (haredis's own users).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`
	// +kubebuilder:validation:XValidation:rule="self != 'default' && !self.startsWith('haredis-')",message="spec.auth.users[].name: 'default' is the application user (its rules are spec.auth.applicationRules) and names starting with 'haredis-' are haredis's own users; choose another name"
	Name string `json:"name"`

	// Rules are the user's ACL permissions, as Redis ACL rules separated by
	// spaces, for example "~queue:* +@all -@admin -@dangerous" or
	// "~* +@read". Only key (~, %R~, %W~), channel (&) and command (+, -)
	// rules are accepted: haredis manages the password and the user's
	// state. Rules Redis refuses are reported in the ConfigApplied
	// condition and the instances keep the users they had.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|[ \\t])([<>#!]|(?i:on|off|reset|nopass|resetpass)([ \\t]|$))')",message="spec.auth.users[].rules: password and state rules (>, <, #, !, on, off, reset, nopass, resetpass) are haredis's; give only key (~), channel (&) and command (+/-) rules"
	Rules string `json:"rules"`

	// PasswordSecret names the Secret key that holds the user's password,
	// in the RedisFailover's namespace.
	PasswordSecret SecretKeySelector `json:"passwordSecret"`
}

// DurabilitySpec bounds the loss window of a failover. When unset, haredis
// requires one replica to acknowledge writes within 10 s if the RedisFailover
// has at least two replicas, and nothing otherwise.
type DurabilitySpec struct {
	// MinReplicasToWrite is Redis's min-replicas-to-write: the primary refuses
	// writes unless this many replicas are connected with a lag below maxLag.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31
	// +optional
	MinReplicasToWrite *int32 `json:"minReplicasToWrite,omitempty"`

	// MaxLag is Redis's min-replicas-max-lag, in whole seconds.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(h|m|s))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="spec.durability.maxLag: must be whole seconds between 1s and 1h written like 10s or 1m"
	// +optional
	MaxLag *metav1.Duration `json:"maxLag,omitempty"`
}

// BootstrapSpec seeds a new RedisFailover with data. Exactly one source.
//
// +kubebuilder:validation:XValidation:rule="[has(self.fromBackup), has(self.fromRDB), has(self.fromRedis)].filter(x, x).size() == 1",message="spec.bootstrap: set exactly one of fromBackup, fromRDB or fromRedis"
type BootstrapSpec struct {
	// FromBackup restores a completed RedisBackup of this namespace. The
	// RedisBackup records its object's location and credentials Secret, so
	// the RedisFailover it was taken from may be gone.
	// +optional
	FromBackup *LocalObjectReference `json:"fromBackup,omitempty"`

	// FromRDB loads an RDB file from object storage (a backup of another
	// namespace or cluster, or a dump made elsewhere) or from an HTTPS URL.
	// +optional
	FromRDB *RDBSource `json:"fromRDB,omitempty"`

	// FromRedis copies a live Redis by replicating from it until a
	// cutover makes haredis's primary the writer. Until then only the
	// initial primary runs (a replica of the source), no sentinel watches
	// it, and the proxy sends REDIS_URL's commands to the source.
	// +optional
	FromRedis *RedisSource `json:"fromRedis,omitempty"`
}

// RDBSource is an RDB file: an object of an S3-compatible store, or a URL.
//
// +kubebuilder:validation:XValidation:rule="has(self.url) != (has(self.objectStore) || has(self.key))",message="spec.bootstrap.fromRDB: set either url, or objectStore with key"
// +kubebuilder:validation:XValidation:rule="!has(self.objectStore) || has(self.key)",message="spec.bootstrap.fromRDB.key: the key of the RDB file in the bucket is required with objectStore"
type RDBSource struct {
	// ObjectStore holding the file; its prefix is not used (the key is
	// the object's whole key).
	// +optional
	ObjectStore *ObjectStore `json:"objectStore,omitempty"`
	// Key of the RDB file in the bucket, every prefix included (a
	// RedisBackup's status.location.key).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Key string `json:"key,omitempty"`
	// URL of the RDB file, https:// (or http:// inside the cluster).
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +optional
	URL string `json:"url,omitempty"`
	// SHA256 of the file (64 hex digits); the restore refuses a file that
	// does not match it.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	// +optional
	SHA256 string `json:"sha256,omitempty"`
}

// RedisSource is a live Redis to import from. It takes the RedisFailover's
// password: spec.auth.passwordSecret names the Secret that holds the
// source's (or spec.auth.enabled is false for a source without one).
type RedisSource struct {
	// Host of the source Redis.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`
	// Port of the source Redis.
	// +kubebuilder:default=6379
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// Cutover is Manual (the default: the annotation haredis.dev/cutover,
	// or kubectl haredis cutover, starts it) or Automatic (as soon as the
	// initial primary is in sync with the source).
	// +kubebuilder:validation:Enum=Manual;Automatic
	// +kubebuilder:default=Manual
	// +optional
	Cutover CutoverMode `json:"cutover,omitempty"`
}

// CutoverMode says when a live import ends.
type CutoverMode string

const (
	CutoverManual    CutoverMode = "Manual"
	CutoverAutomatic CutoverMode = "Automatic"
)

// ObjectStore is an S3-compatible bucket.
type ObjectStore struct {
	// Endpoint of the S3-compatible service, for example
	// https://s3.eu-west-1.amazonaws.com.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=1024
	Endpoint string `json:"endpoint"`
	// Bucket name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`
	// Prefix of the keys haredis writes, within the bucket.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Region of the bucket.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`
	// CredentialsSecret names a Secret with the keys accessKeyID and
	// secretAccessKey. Without it (or with a Secret holding neither key),
	// the pods use the web identity of their environment
	// (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as an IAM role for a
	// service account provides).
	// +optional
	CredentialsSecret *LocalObjectReference `json:"credentialsSecret,omitempty"`
	// Encryption asks the store to encrypt the objects haredis writes.
	// +optional
	Encryption *ObjectStoreEncryption `json:"encryption,omitempty"`
}

// ObjectStoreEncryption is server-side encryption by the store.
//
// +kubebuilder:validation:XValidation:rule="!has(self.kmsKeyID) || self.mode == 'aws:kms'",message="encryption.kmsKeyID: is used with mode aws:kms only; set mode: aws:kms or remove kmsKeyID"
type ObjectStoreEncryption struct {
	// Mode is AES256 (keys the store manages) or aws:kms (a KMS key).
	// +kubebuilder:validation:Enum=AES256;aws:kms
	Mode string `json:"mode"`
	// KMSKeyID is the KMS key of mode aws:kms; the store's default key when
	// empty.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	KMSKeyID string `json:"kmsKeyID,omitempty"`
}

// Keys of the Secret named by ObjectStore.CredentialsSecret.
const (
	CredentialsAccessKeyID     = "accessKeyID"
	CredentialsSecretAccessKey = "secretAccessKey"
)

// BackupSpec configures backups: the store every RedisBackup of this
// RedisFailover uses, and an optional schedule with its retention.
type BackupSpec struct {
	// ObjectStore receiving the backups.
	ObjectStore ObjectStore `json:"objectStore"`
	// Schedule in cron format (five fields, UTC), for example "0 3 * * *",
	// or a shorthand such as @daily or @every 6h. Empty means backups are
	// taken only when a RedisBackup is created.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.split(' ').filter(f, f != '').size() == 5 || self.startsWith('@')",message="spec.backup.schedule: must be a cron expression with five fields (minute hour day-of-month month day-of-week), for example \"0 3 * * *\", or a shorthand such as @daily"
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Keep is how many completed scheduled backups to retain; older ones
	// are deleted with their objects.
	// +kubebuilder:default=7
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="spec.backup.keep: must be at least 1"
	// +optional
	Keep int32 `json:"keep,omitempty"`
	// MaxAge deletes completed scheduled backups older than this (such as
	// 720h), with their objects; the newest completed one is always kept.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(h|m|s))+$') && duration(self) >= duration('1h')",message="spec.backup.maxAge: must be a duration of at least 1h written like 168h or 720h"
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// BackupStatus is where the scheduled backups stand.
type BackupStatus struct {
	// LastScheduleTime is when the schedule last created a RedisBackup.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is when it creates the next one.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// LastSuccessfulBackup names the newest completed RedisBackup of this
	// RedisFailover (scheduled or not), LastSuccessfulTime when it ended.
	// +optional
	LastSuccessfulBackup string `json:"lastSuccessfulBackup,omitempty"`
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
}

// Phase summarises the state of a RedisFailover for humans.
type Phase string

const (
	PhasePending     Phase = "Pending"
	PhaseCreating    Phase = "Creating"
	PhaseReady       Phase = "Ready"
	PhaseDegraded    Phase = "Degraded"
	PhaseFailingOver Phase = "FailingOver"
	PhaseUpdating    Phase = "Updating"
	PhaseFailed      Phase = "Failed"
	// PhaseHibernating: spec.hibernate is true and pods are stopping;
	// PhaseHibernated: none runs, the volumes are kept.
	PhaseHibernating Phase = "Hibernating"
	PhaseHibernated  Phase = "Hibernated"
	// PhaseImporting: the initial primary replicates from the source of
	// spec.bootstrap.fromRedis; the cutover has not happened yet.
	PhaseImporting Phase = "Importing"
	// PhaseFenced: spec.fenced is true and every instance refuses writes.
	PhaseFenced Phase = "Fenced"
)

// Role of an instance.
type Role string

const (
	RolePrimary Role = "primary"
	RoleReplica Role = "replica"
	RoleUnknown Role = "unknown"
)

// RedisFailoverStatus is what haredis observed.
type RedisFailoverStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase summarises the state for humans; read the conditions for the
	// details.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// Conditions: Ready, Degraded, FailingOver, ConfigInvalid, ...
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CurrentPrimary is the instance that is primary now.
	// +optional
	CurrentPrimary string `json:"currentPrimary,omitempty"`

	// TargetPrimary is the instance asked to become primary by a planned
	// switchover; it equals currentPrimary when none is under way. Set it
	// to the name of a ready replica to ask for a switchover (`kubectl
	// haredis promote`, or a patch of the status subresource); the
	// operator sets it itself during a rolling update.
	// +optional
	TargetPrimary string `json:"targetPrimary,omitempty"`

	// LastSwitchover reports the last planned switchover.
	// +optional
	LastSwitchover *SwitchoverStatus `json:"lastSwitchover,omitempty"`

	// SentinelViews is what each sentinel said of the master when the
	// operator last asked: the primary it names, with the epoch of that
	// configuration, or why it gave none.
	// +optional
	SentinelViews []SentinelView `json:"sentinelViews,omitempty"`

	// MasterName is the name the sentinels know this RedisFailover by,
	// unique in the cluster.
	// +optional
	MasterName string `json:"masterName,omitempty"`
	// SentinelPool is the SentinelPool whose sentinels monitor this
	// RedisFailover, as NAMESPACE/NAME; empty with dedicated sentinels.
	// Set once the pool's sentinels watch it, cleared once they let go.
	// +optional
	SentinelPool string `json:"sentinelPool,omitempty"`

	// ACLUsers records that the instances run with Redis users: the
	// application user and haredis's internal users (see docs/security.md).
	// haredis sets it when it creates a RedisFailover's first pods with
	// auth on; a RedisFailover created by an earlier haredis keeps the
	// password alone for every purpose.
	// +optional
	ACLUsers bool `json:"aclUsers,omitempty"`

	// ReadyInstances counts instances that are ready.
	// +optional
	ReadyInstances int32 `json:"readyInstances,omitempty"`

	// ReadyProxies counts proxy pods that have confirmed a primary and
	// serve REDIS_URL.
	// +optional
	ReadyProxies int32 `json:"readyProxies,omitempty"`

	// Instances reports each Redis instance.
	// +optional
	// +listType=map
	// +listMapKey=name
	Instances []InstanceStatus `json:"instances,omitempty"`

	// Endpoints clients connect to.
	// +optional
	Endpoints Endpoints `json:"endpoints,omitempty"`

	// Backup is where the scheduled backups stand (spec.backup.schedule).
	// +optional
	Backup *BackupStatus `json:"backup,omitempty"`

	// LiveImport is where the live import of spec.bootstrap.fromRedis
	// stands, until and after its cutover.
	// +optional
	LiveImport *LiveImportStatus `json:"liveImport,omitempty"`

	// FailoverCount counts failovers and switchovers observed.
	// +optional
	FailoverCount int32 `json:"failoverCount,omitempty"`

	// LastFailoverTime is when the primary last changed.
	// +optional
	LastFailoverTime *metav1.Time `json:"lastFailoverTime,omitempty"`

	// UpdateRevision identifies the pod template of the current spec; pods
	// of another revision are replaced by the rolling update.
	// +optional
	UpdateRevision string `json:"updateRevision,omitempty"`

	// UpdatedInstances counts instances whose pod runs the current spec and
	// needs no restart for its parameter group.
	// +optional
	UpdatedInstances int32 `json:"updatedInstances,omitempty"`
}

// LiveImportStatus reports the live import from a running Redis.
type LiveImportStatus struct {
	// Source is host:port of the source Redis.
	Source string `json:"source"`
	// LinkUp: the initial primary is connected to the source and has
	// finished its first synchronisation.
	// +optional
	LinkUp bool `json:"linkUp,omitempty"`
	// LagBytes is how far the initial primary is behind the source, in
	// bytes of the replication stream (-1 while it is not known).
	// +optional
	LagBytes int64 `json:"lagBytes,omitempty"`
	// Problem says why the import does not progress, in the words of the
	// initial primary or of the source.
	// +optional
	Problem string `json:"problem,omitempty"`
	// CutoverTime is when haredis's primary became the writer.
	// +optional
	CutoverTime *metav1.Time `json:"cutoverTime,omitempty"`
	// LastCutoverError is why the last cutover attempt did not happen; the
	// import goes on.
	// +optional
	LastCutoverError string `json:"lastCutoverError,omitempty"`
	// ReplicasInSyncTime is when, after the cutover, as many replicas as
	// min-replicas-to-write asks for had made their first copy. Until
	// then min-replicas-to-write is 0: the new primary takes writes while
	// the instances created at the cutover copy its data.
	// +optional
	ReplicasInSyncTime *metav1.Time `json:"replicasInSyncTime,omitempty"`
}

// SwitchoverStatus reports one planned switchover.
type SwitchoverStatus struct {
	// From is the primary before the switchover.
	From string `json:"from"`
	// To is the instance asked to become primary.
	To string `json:"to"`
	// Reason is why it happened: Requested (a user set targetPrimary) or
	// RollingUpdate.
	Reason string `json:"reason"`
	// Result is InProgress, Succeeded or Failed.
	Result string `json:"result"`
	// Message says what happened, and on failure why and what to do.
	// +optional
	Message string `json:"message,omitempty"`
	// StartTime and EndTime of the switchover.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// WritesHeldMilliseconds is how long writes were held on the old
	// primary before the new one took them.
	// +optional
	WritesHeldMilliseconds int64 `json:"writesHeldMilliseconds,omitempty"`
}

// SentinelView is one sentinel's answer about the master.
type SentinelView struct {
	// Name of the sentinel's pod.
	Name string `json:"name"`
	// Primary is the instance the sentinel names as primary; empty when it
	// named none (Problem says why).
	// +optional
	Primary string `json:"primary,omitempty"`
	// ConfigEpoch of the configuration that named Primary: each failover
	// takes a higher one.
	// +optional
	ConfigEpoch int64 `json:"configEpoch,omitempty"`
	// Problem: the sentinel did not answer, does not monitor the master,
	// or names an address that is none of the instances.
	// +optional
	Problem string `json:"problem,omitempty"`
}

// InstanceStatus reports one Redis instance.
type InstanceStatus struct {
	// Name of the instance and its pod, NAME-N.
	Name string `json:"name"`
	// Role the instance reports.
	// +optional
	Role Role `json:"role,omitempty"`
	// Ready is true when the instance is a primary accepting writes or a
	// replica in sync.
	// +optional
	Ready bool `json:"ready,omitempty"`
	// ReplicationOffset the instance reports.
	// +optional
	ReplicationOffset int64 `json:"replicationOffset,omitempty"`
	// LagBytes behind the primary's offset (replicas only).
	// +optional
	LagBytes int64 `json:"lagBytes,omitempty"`
	// PodIP of the instance.
	// +optional
	PodIP string `json:"podIP,omitempty"`
	// ConfigGeneration is the generation of the parameter group the
	// instance has (in force, or waiting for a restart: see pendingRestart).
	// +optional
	ConfigGeneration int64 `json:"configGeneration,omitempty"`
	// PendingRestart lists parameters of the group that Redis cannot change
	// at run time; the rolling update restarts the instance to apply them.
	// +optional
	PendingRestart []string `json:"pendingRestart,omitempty"`
	// UpdatePending is true while the instance's pod runs an older spec and
	// waits for its turn in the rolling update.
	// +optional
	UpdatePending bool `json:"updatePending,omitempty"`
	// Storage is the capacity of the instance's volume as the storage
	// system reports it.
	// +optional
	Storage string `json:"storage,omitempty"`
	// StorageUsedPercent is how full the instance's volume is: the use of
	// its filesystem where the volume is a filesystem of its own, else the
	// size of the files under the data directory against the capacity (a
	// volume carved from a shared disk). Unset while it cannot be read.
	// +optional
	StorageUsedPercent *int32 `json:"storageUsedPercent,omitempty"`
	// Server is the engine and version the instance runs, as the server
	// reports it (for example "valkey 8.0.1", "redis 7.0.15").
	// +optional
	Server string `json:"server,omitempty"`
}

// Endpoints clients connect to.
type Endpoints struct {
	// RedisURL is the single URL for every client: through the proxy when it
	// is enabled, else to the primary. The password is not included.
	// +optional
	RedisURL string `json:"redisURL,omitempty"`
	// Primary is host:port of the Service that always reaches the primary.
	// +optional
	Primary string `json:"primary,omitempty"`
	// Replicas is host:port of the Service that reaches the replicas.
	// +optional
	Replicas string `json:"replicas,omitempty"`
	// Sentinel is host:port of the Service that reaches the sentinels.
	// +optional
	Sentinel string `json:"sentinel,omitempty"`
	// SentinelURL is a redis+sentinel:// URL for Sentinel-aware clients.
	// +optional
	SentinelURL string `json:"sentinelURL,omitempty"`
}
