package v1

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Names of the objects a RedisFailover owns. Every name derives from the
// RedisFailover's, which the schema keeps at most 50 characters long.

// InstanceName is the name of instance n (from 1): its Pod and its PVC.
func (rf *RedisFailover) InstanceName(n int) string { return fmt.Sprintf("%s-%d", rf.Name, n) }

// SentinelName is the name of dedicated sentinel n (from 1).
func (rf *RedisFailover) SentinelName(n int) string { return fmt.Sprintf("%s-sentinel-%d", rf.Name, n) }

// ServiceName is the Service of the REDIS_URL: the proxy when it is enabled,
// else the primary.
func (rf *RedisFailover) ServiceName() string { return rf.Name }

// PrimaryServiceName is the Service that always reaches the primary.
func (rf *RedisFailover) PrimaryServiceName() string { return rf.Name + "-primary" }

// ReplicasServiceName is the Service that reaches the replicas.
func (rf *RedisFailover) ReplicasServiceName() string { return rf.Name + "-replicas" }

// HeadlessServiceName gives every instance a stable DNS name.
func (rf *RedisFailover) HeadlessServiceName() string { return rf.Name + "-headless" }

// SentinelServiceName reaches the sentinels.
func (rf *RedisFailover) SentinelServiceName() string { return rf.Name + "-sentinel" }

// AuthSecretName holds the generated password.
func (rf *RedisFailover) AuthSecretName() string { return rf.Name + "-auth" }

// ConnectionSecretName holds what an application needs to connect.
func (rf *RedisFailover) ConnectionSecretName() string { return rf.Name + "-connection" }

// LiveImportSource is host:port of the Redis a live import replicates from
// (spec.bootstrap.fromRedis), "" without one.
func (rf *RedisFailover) LiveImportSource() string {
	if rf.Spec.Bootstrap == nil || rf.Spec.Bootstrap.FromRedis == nil {
		return ""
	}
	s := rf.Spec.Bootstrap.FromRedis
	port := s.Port
	if port == 0 {
		port = 6379
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(int(port)))
}

// TLSEnabled reports whether the RedisFailover speaks TLS (spec.tls).
func (rf *RedisFailover) TLSEnabled() bool { return rf.Spec.TLS != nil && rf.Spec.TLS.Enabled }

// TLSSecretName is the certificate Secret every pod mounts: the user's
// (spec.tls.secretName) or NAME-tls, issued by the operator.
func (rf *RedisFailover) TLSSecretName() string {
	if rf.Spec.TLS != nil && rf.Spec.TLS.SecretName != "" {
		return rf.Spec.TLS.SecretName
	}
	return rf.Name + "-tls"
}

// TLSIssued reports whether the operator issues the certificate (TLS on,
// no spec.tls.secretName).
func (rf *RedisFailover) TLSIssued() bool { return rf.TLSEnabled() && rf.Spec.TLS.SecretName == "" }

// TLSCASecretName holds the CA the operator issues NAME-tls with; no pod
// mounts it.
func (rf *RedisFailover) TLSCASecretName() string { return rf.Name + "-tls-ca" }

// MasterName is the name the sentinels know this RedisFailover by. It joins
// namespace, name and the start of the UID, so two RedisFailovers, even with
// the same name in two namespaces or one recreated under the same name, never
// share it: sentinels of one can never adopt instances of another.
func (rf *RedisFailover) MasterName() string {
	uid := strings.ReplaceAll(string(rf.UID), "-", "")
	if len(uid) > 12 {
		uid = uid[:12]
	}
	return fmt.Sprintf("%s.%s.%s", rf.Namespace, rf.Name, uid)
}

// AuthEnabled tells whether clients must authenticate (the default).
func (rf *RedisFailover) AuthEnabled() bool {
	return rf.Spec.Auth.Enabled == nil || *rf.Spec.Auth.Enabled
}

// ACLUsersEnabled tells whether the instances run with Redis users (auth
// on, and recorded in status.aclUsers when the first pods were created).
func (rf *RedisFailover) ACLUsersEnabled() bool {
	return rf.AuthEnabled() && rf.Status.ACLUsers
}

// DefaultPasswordGracePeriod is how long a previous password keeps
// working after a rotation when spec.auth.passwordGracePeriod is not set.
const DefaultPasswordGracePeriod = time.Hour

// PasswordGracePeriod is spec.auth.passwordGracePeriod, or its default.
func (rf *RedisFailover) PasswordGracePeriod() time.Duration {
	if g := rf.Spec.Auth.PasswordGracePeriod; g != nil {
		return g.Duration
	}
	return DefaultPasswordGracePeriod
}

// ProxyEnabled tells whether the proxy is deployed (the default).
func (rf *RedisFailover) ProxyEnabled() bool {
	return rf.Spec.Proxy.Enabled == nil || *rf.Spec.Proxy.Enabled
}

// NetworkPolicyEnabled tells whether the operator creates NetworkPolicies
// (the default).
func (rf *RedisFailover) NetworkPolicyEnabled() bool {
	return rf.Spec.NetworkPolicy.Enabled == nil || *rf.Spec.NetworkPolicy.Enabled
}

// KeepVolumes tells whether PVCs outlive the RedisFailover (the default).
func (rf *RedisFailover) KeepVolumes() bool {
	return rf.Spec.Redis.Storage.KeepAfterDeletion == nil || *rf.Spec.Redis.Storage.KeepAfterDeletion
}

// VolumeNearlyFullPercent is the use of an instance's volume above which
// the operator warns (event VolumeNearlyFull) and the plugin's status
// flags it: an AOF rewrite or a snapshot needs room for a second copy.
const VolumeNearlyFullPercent = 80

// FencedMinReplicasToWrite is min-replicas-to-write while spec.fenced is
// true: more replicas than a RedisFailover can have (at most 32 instances),
// so every write is refused. The instance manager's contract names the same
// value (instanceapi.FenceMinReplicasToWrite).
const FencedMinReplicasToWrite = 32

// DefaultMaxLag is min-replicas-max-lag when spec.durability.maxLag is unset.
const DefaultMaxLag = 10 * time.Second

// EffectiveDurability returns min-replicas-to-write and min-replicas-max-lag
// in force: SpecDurability, except that a fence refuses every write, and
// that a live import holds min-replicas-to-write at 0 until, after its
// cutover, the replicas it asks for have made their first copy (the
// instances other than the first start only at the cutover, and refusing
// writes while they copy would turn the cutover's pause into an outage).
func (rf *RedisFailover) EffectiveDurability() (minReplicas int32, maxLag time.Duration) {
	minReplicas, maxLag = rf.SpecDurability()
	switch {
	case rf.Spec.Fenced:
		return FencedMinReplicasToWrite, maxLag
	case rf.ImportHoldsDurability():
		return 0, maxLag
	}
	return minReplicas, maxLag
}

// SpecDurability returns the durability the spec asks for: its values,
// else one replica within 10 s when there are at least two replicas
// (three instances), else none. With a single replica the default is
// none, so that losing that replica does not stop writes.
func (rf *RedisFailover) SpecDurability() (minReplicas int32, maxLag time.Duration) {
	maxLag = DefaultMaxLag
	if l := rf.Spec.Durability.MaxLag; l != nil {
		maxLag = l.Duration
	}
	if m := rf.Spec.Durability.MinReplicasToWrite; m != nil {
		return *m, maxLag
	}
	if rf.Spec.Redis.Replicas >= 3 {
		return 1, maxLag
	}
	return 0, maxLag
}

// ImportHoldsDurability: a live import (spec.bootstrap.fromRedis) has not
// yet seen, after its cutover, its replicas make their first copy
// (status.liveImport.replicasInSyncTime).
func (rf *RedisFailover) ImportHoldsDurability() bool {
	b := rf.Spec.Bootstrap
	return b != nil && b.FromRedis != nil && (rf.Status.LiveImport == nil || rf.Status.LiveImport.ReplicasInSyncTime == nil)
}
