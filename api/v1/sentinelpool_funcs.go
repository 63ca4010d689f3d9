package v1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Names of the objects a SentinelPool owns. They are those of a
// RedisFailover's dedicated sentinels of the same name: a pool and a
// RedisFailover in one namespace need different names (the pool reports
// NameTaken otherwise).

// SentinelName is the name of pool sentinel n (from 1).
func (sp *SentinelPool) SentinelName(n int) string { return fmt.Sprintf("%s-sentinel-%d", sp.Name, n) }

// ServiceName reaches the pool's sentinels: the host of every Sentinel URL
// of the RedisFailovers it serves.
func (sp *SentinelPool) ServiceName() string { return sp.Name + "-sentinel" }

// HeadlessServiceName gives every pool sentinel a stable DNS name.
func (sp *SentinelPool) HeadlessServiceName() string { return sp.Name + "-sentinel-headless" }

// AuthSecretName holds the pool's admin password: what the operator and
// the pool's sentinels among themselves authenticate with.
func (sp *SentinelPool) AuthSecretName() string { return sp.Name + "-sentinel-auth" }

// TaughtSecretName holds the masters the pool's sentinels are taught at
// start (one key per master name): those of RedisFailovers whose recorded
// primary waits for a failover to a replica the pool never heard of.
func (sp *SentinelPool) TaughtSecretName() string { return sp.Name + "-sentinel-masters" }

// PDBName is the pool's PodDisruptionBudget.
func (sp *SentinelPool) PDBName() string { return sp.Name + "-sentinel" }

// Admits tells whether RedisFailovers of a namespace with these labels may
// use the pool: its own namespace always, others when
// spec.namespaceSelector selects them. An invalid selector admits no other
// namespace and says why.
func (sp *SentinelPool) Admits(namespace string, nsLabels map[string]string) (bool, error) {
	if namespace == sp.Namespace {
		return true, nil
	}
	if sp.Spec.NamespaceSelector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(sp.Spec.NamespaceSelector)
	if err != nil {
		return false, fmt.Errorf("spec.namespaceSelector of SentinelPool %s/%s: %w", sp.Namespace, sp.Name, err)
	}
	return sel.Matches(labels.Set(nsLabels)), nil
}

// PoolKey is the SentinelPool spec.sentinel.poolRef names, NAMESPACE/NAME
// (the RedisFailover's namespace when the reference gives none); "" with
// dedicated sentinels.
func (rf *RedisFailover) PoolKey() string {
	ref := rf.Spec.Sentinel.PoolRef
	if ref == nil {
		return ""
	}
	ns := ref.Namespace
	if ns == "" {
		ns = rf.Namespace
	}
	return ns + "/" + ref.Name
}

// PoolMasterName is the name a SentinelPool's sentinels monitor rf under:
// its master name with ".pool", so that a pool's sentinels and rf's
// dedicated ones, which both watch it while it moves from one to the
// other, never take each other for peers (Sentinel finds its peers by
// master name).
func (rf *RedisFailover) PoolMasterName() string { return rf.MasterName() + ".pool" }

// OnPool tells whether a SentinelPool's sentinels are in charge of rf
// (status.sentinelPool): they alone may fail it over.
func (rf *RedisFailover) OnPool() bool { return rf.Status.SentinelPool != "" }

// SentinelMasterName is the name the sentinels in charge of rf know it
// by: what clients give Sentinel.
func (rf *RedisFailover) SentinelMasterName() string {
	if rf.OnPool() {
		return rf.PoolMasterName()
	}
	return rf.MasterName()
}
