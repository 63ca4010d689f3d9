package instance

import (
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
)

// statusCollector reads the manager's status once per scrape, so that every
// metric of one scrape comes from the same status.
type statusCollector struct{ m *Manager }

func (statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{roleDesc, redisUpDesc, readyDesc, waitingDesc, offsetDesc, lagDesc,
		connectedReplicasDesc, keysDesc, restartsDesc, configErrorDesc, configRestartRequiredDesc} {
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
}
