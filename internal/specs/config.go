package specs

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceconfig"
)

// InstanceConfig builds instance.json for the given instance names (every
// instance that may hold data, see the contract). The initial primary is
// status.currentPrimary, or NAME-1 before anything was recorded; it counts
// only while the sentinels know nothing. pool is the SentinelPool in
// charge of rf, nil with dedicated sentinels (InstanceConfig then names
// those, also while they take over from a pool).
func InstanceConfig(rf *haredisv1.RedisFailover, instances []string, pool *haredisv1.SentinelPool) *instanceconfig.Config {
	minReplicas, maxLag := rf.EffectiveDurability()
	primary := rf.Status.CurrentPrimary
	if primary == "" {
		primary = rf.InstanceName(1)
	}
	group := map[string]string{}
	for k, v := range rf.Spec.Redis.Config {
		group[k] = string(v)
	}
	if len(group) == 0 {
		group = nil
	}
	persistence := string(rf.Spec.Redis.Persistence)
	if persistence == "" {
		persistence = instanceconfig.PersistenceAOF
	}
	cfg := &instanceconfig.Config{
		ClusterName:              rf.Name,
		MasterName:               rf.MasterName(),
		Instances:                instances,
		HostTemplate:             InstanceHost(rf, instanceconfig.NamePlaceholder),
		Sentinels:                SentinelAddrs(rf),
		SentinelAuthEnabled:      rf.AuthEnabled(),
		TLS:                      rf.TLSEnabled(),
		Persistence:              persistence,
		Config:                   group,
		ConfigGeneration:         rf.Generation,
		MinReplicasToWrite:       int(minReplicas),
		MinReplicasMaxLagSeconds: int(maxLag.Seconds()),
		AuthEnabled:              rf.AuthEnabled(),
		ACLUsers:                 rf.ACLUsersEnabled(),
		ApplicationRules:         applicationRules(rf),
		InitialPrimary:           primary,
	}
	switch {
	case pool != nil:
		// The pool's sentinels answer reads with any password or none.
		cfg.MasterName, cfg.Sentinels, cfg.SentinelAuthEnabled = rf.PoolMasterName(), PoolSentinelAddrs(pool), false
	case rf.OnPool():
		cfg.SentinelsJoining = true
	}
	return cfg
}

// SentinelAddrs are host:port of the dedicated sentinels by stable name.
func SentinelAddrs(rf *haredisv1.RedisFailover) []string {
	out := make([]string, 0, rf.Spec.Sentinel.Replicas)
	for i := 1; i <= int(rf.Spec.Sentinel.Replicas); i++ {
		out = append(out, net.JoinHostPort(SentinelHost(rf, rf.SentinelName(i)), strconv.Itoa(SentinelPort)))
	}
	return out
}

// InstanceConfigMap holds instance.json, read by every instance manager and
// by `haredis sentinel run`.
func InstanceConfigMap(rf *haredisv1.RedisFailover, cfg *instanceconfig.Config) (*corev1.ConfigMap, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot build instance config: %w", err)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode instance config: %w", err)
	}
	return &corev1.ConfigMap{
		ObjectMeta: objectMeta(rf, InstanceConfigMapName(rf), ComponentRedis),
		Data:       map[string]string{InstanceConfigKey: string(b) + "\n"},
	}, nil
}

// applicationRules are spec.auth.applicationRules where the instances have
// Redis users (written only then, so that an earlier haredis's instance
// manager never meets the field).
func applicationRules(rf *haredisv1.RedisFailover) string {
	if !rf.ACLUsersEnabled() {
		return ""
	}
	return rf.Spec.Auth.ApplicationRules
}
