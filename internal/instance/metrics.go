package instance

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/metrics"
)

// The metrics of GET /metrics, every one a view of the status.
var (
	roleDesc                  = prometheus.NewDesc("haredis_instance_role", "Role of the instance (1 for the current role).", []string{"role"}, nil)
	redisUpDesc               = prometheus.NewDesc("haredis_instance_redis_up", "1 when redis-server answers.", nil, nil)
	readyDesc                 = prometheus.NewDesc("haredis_instance_ready", "1 when the instance is ready (see /readyz).", nil, nil)
	waitingDesc               = prometheus.NewDesc("haredis_instance_waiting", "1 while the boot decision keeps redis-server stopped.", nil, nil)
	offsetDesc                = prometheus.NewDesc("haredis_instance_replication_offset_bytes", "Replication offset.", nil, nil)
	lagDesc                   = prometheus.NewDesc("haredis_instance_replication_lag_bytes", "Bytes behind the primary (-1 when unknown).", nil, nil)
	connectedReplicasDesc     = prometheus.NewDesc("haredis_instance_connected_replicas", "Replicas connected to this primary.", nil, nil)
	keysDesc                  = prometheus.NewDesc("haredis_instance_keys", "Keys in all databases.", nil, nil)
	restartsDesc              = prometheus.NewDesc("haredis_instance_redis_restarts_total", "Restarts of redis-server by the manager.", nil, nil)
	configErrorDesc           = prometheus.NewDesc("haredis_instance_config_error", "1 when the last parameter group was refused.", nil, nil)
	configRestartRequiredDesc = prometheus.NewDesc("haredis_instance_config_restart_required", "Parameters waiting for a restart of redis-server.", nil, nil)
	bootWaitDesc              = prometheus.NewDesc("haredis_instance_boot_wait_seconds", "How long the boot decision has kept redis-server stopped so far (0 when it runs).", nil, nil)
	lagSecondsDesc            = prometheus.NewDesc("haredis_instance_replication_lag_seconds", "A replica's seconds since its primary last sent anything (master_last_io_seconds_ago; -1 on a primary or when unknown).", nil, nil)
	clientsDesc               = prometheus.NewDesc("haredis_instance_connected_clients", "Client connections to redis-server.", nil, nil)
	memoryDesc                = prometheus.NewDesc("haredis_instance_memory_used_bytes", "Memory redis-server allocated (used_memory).", nil, nil)
	memoryRSSDesc             = prometheus.NewDesc("haredis_instance_memory_rss_bytes", "Resident memory of redis-server (used_memory_rss).", nil, nil)
	fragmentationDesc         = prometheus.NewDesc("haredis_instance_memory_fragmentation_ratio", "mem_fragmentation_ratio: resident memory over allocated memory.", nil, nil)
	evictedDesc               = prometheus.NewDesc("haredis_instance_evicted_keys_total", "Keys evicted for maxmemory since redis-server started.", nil, nil)
	expiredDesc               = prometheus.NewDesc("haredis_instance_expired_keys_total", "Keys expired since redis-server started.", nil, nil)
	hitsDesc                  = prometheus.NewDesc("haredis_instance_keyspace_hits_total", "Successful key lookups since redis-server started.", nil, nil)
	missesDesc                = prometheus.NewDesc("haredis_instance_keyspace_misses_total", "Failed key lookups since redis-server started.", nil, nil)
	lastSaveDesc              = prometheus.NewDesc("haredis_instance_rdb_last_save_timestamp_seconds", "When the data set was last saved to an RDB file (Unix seconds).", nil, nil)
	bgsaveOKDesc              = prometheus.NewDesc("haredis_instance_rdb_last_bgsave_ok", "1 when the last background save succeeded.", nil, nil)
	aofWriteOKDesc            = prometheus.NewDesc("haredis_instance_aof_last_write_ok", "1 when the last append-only file write succeeded (1 without AOF).", nil, nil)
	importLagDesc             = prometheus.NewDesc("haredis_instance_import_lag_bytes", "During a live import: bytes behind the source (-1 when unknown); absent otherwise.", nil, nil)
)

// allDescs are every metric of GET /metrics.
var allDescs = []*prometheus.Desc{roleDesc, redisUpDesc, readyDesc, waitingDesc, offsetDesc, lagDesc,
	connectedReplicasDesc, keysDesc, restartsDesc, configErrorDesc, configRestartRequiredDesc, bootWaitDesc, lagSecondsDesc,
	clientsDesc, memoryDesc, memoryRSSDesc, fragmentationDesc, evictedDesc, expiredDesc, hitsDesc, missesDesc,
	lastSaveDesc, bgsaveOKDesc, aofWriteOKDesc, importLagDesc}

// statusCollector reads the manager's status once per scrape, so that every
// metric of one scrape comes from the same status.
type statusCollector struct{ m *Manager }

func (statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Status()
	for _, r := range []string{instanceapi.RolePrimary, instanceapi.RoleReplica, instanceapi.RoleUnknown} {
		ch <- prometheus.MustNewConstMetric(roleDesc, prometheus.GaugeValue, metrics.Bool(s.Role == r), r)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(redisUpDesc, metrics.Bool(s.RedisUp))
	gauge(readyDesc, metrics.Bool(s.Ready))
	gauge(waitingDesc, metrics.Bool(s.Phase == instanceapi.PhaseWaiting))
	gauge(offsetDesc, float64(s.ReplicationOffset))
	gauge(lagDesc, float64(s.LagBytes))
	gauge(connectedReplicasDesc, float64(s.ConnectedReplicas))
	gauge(keysDesc, float64(s.Keys))
	ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(s.Restarts))
	gauge(configErrorDesc, metrics.Bool(s.Config.LastError != ""))
	gauge(configRestartRequiredDesc, float64(len(s.Config.RestartRequired)))
	wait := 0.0
	if d := s.LastDecision; s.Phase == instanceapi.PhaseWaiting && d != nil {
		wait = time.Since(d.Since).Seconds()
	}
	gauge(bootWaitDesc, wait)
	if b := s.Bootstrap; b != nil && b.Phase == instanceapi.BootstrapImporting && b.Import != nil {
		gauge(importLagDesc, float64(b.Import.LagBytes))
	}
	c.m.mu.Lock()
	o := c.m.observed
	c.m.mu.Unlock()
	if !o.Up {
		return
	}
	st := o.Stats
	lagSeconds := st.MasterLastIOSecondsAgo
	if o.Repl.Role != "slave" {
		lagSeconds = -1
	}
	gauge(lagSecondsDesc, float64(lagSeconds))
	gauge(clientsDesc, float64(st.ConnectedClients))
	gauge(memoryDesc, float64(st.UsedMemory))
	gauge(memoryRSSDesc, float64(st.UsedMemoryRSS))
	gauge(fragmentationDesc, st.Fragmentation)
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(evictedDesc, st.EvictedKeys)
	counter(expiredDesc, st.ExpiredKeys)
	counter(hitsDesc, st.KeyspaceHits)
	counter(missesDesc, st.KeyspaceMisses)
	gauge(lastSaveDesc, float64(st.RDBLastSave))
	gauge(bgsaveOKDesc, metrics.Bool(st.RDBLastBgsaveOK))
	gauge(aofWriteOKDesc, metrics.Bool(!st.AOFEnabled || st.AOFLastWriteOK))
}
