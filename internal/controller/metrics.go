package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The operator's own metrics, served with controller-runtime's
// (controller_runtime_reconcile_total, _errors_total, _time_seconds, the
// work queues) on --metrics-bind-address. docs/metrics.md lists them all.
var (
	failoversTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "haredis_operator_failovers_total",
		Help: "Failovers Sentinel made, as the operator observed them (the primary changed outside a planned switchover).",
	}, []string{"namespace", "redisfailover"})
	switchoversTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "haredis_operator_switchovers_total",
		Help: "Planned switchovers that ended, by why they ran (Requested, RollingUpdate) and how (Succeeded, Failed).",
	}, []string{"namespace", "redisfailover", "reason", "result"})
	switchoverSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "haredis_operator_switchover_duration_seconds",
		Help:    "How long planned switchovers took, from the request to the outcome.",
		Buckets: []float64{0.5, 1, 2, 3, 5, 10, 20, 30, 60},
	})
	switchoverWritesHeld = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "haredis_operator_switchover_writes_held_seconds",
		Help:    "How long a successful switchover held writes on the old primary.",
		Buckets: []float64{0.05, 0.1, 0.2, 0.5, 1, 2, 5},
	})
	backupsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "haredis_operator_backups_total",
		Help: "RedisBackups that ended, by result (Completed, Failed).",
	}, []string{"namespace", "result"})
	backupSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "haredis_operator_backup_duration_seconds",
		Help:    "How long completed backups took, from their start to the object in the store.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	cutoversTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "haredis_operator_cutovers_total",
		Help: "Cutovers of live imports, by result (Succeeded, Failed).",
	}, []string{"namespace", "redisfailover", "result"})
)

func init() {
	crmetrics.Registry.MustRegister(failoversTotal, switchoversTotal, switchoverSeconds, switchoverWritesHeld,
		backupsTotal, backupSeconds, cutoversTotal)
}

// observeSwitchover counts a switchover that ended.
func observeSwitchover(ns, name, reason, result string, started time.Time, heldMS int64) {
	switchoversTotal.WithLabelValues(ns, name, reason, result).Inc()
	if !started.IsZero() {
		switchoverSeconds.Observe(time.Since(started).Seconds())
	}
	if heldMS > 0 {
		switchoverWritesHeld.Observe(float64(heldMS) / 1000)
	}
}
