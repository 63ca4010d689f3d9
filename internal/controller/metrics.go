package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/metrics"
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

	// What the status says, for alerts: written by every reportStatus.
	conditionGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "haredis_operator_redisfailover_condition",
		Help: "1 when the condition of the RedisFailover's status is True, 0 when False (Ready, Degraded, FailingOver, BackupsCurrent, ...).",
	}, []string{"namespace", "redisfailover", "condition"})
	sentinelsDesired = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "haredis_operator_sentinels_desired",
		Help: "Sentinels that watch the RedisFailover: spec.sentinel.replicas, or the replicas of its SentinelPool.",
	}, []string{"namespace", "redisfailover"})
	sentinelsAgreeing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "haredis_operator_sentinels_agreeing",
		Help: "Sentinels that name the primary in status.currentPrimary; below a majority of the desired ones, no failover can happen.",
	}, []string{"namespace", "redisfailover"})
	sentinelNamesPrimary = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "haredis_operator_sentinel_names_primary",
		Help: "Each sentinel's view: 1 when it names the recorded primary, 0 when it names another or none (status.sentinelViews).",
	}, []string{"namespace", "redisfailover", "sentinel"})
	sentinelEpoch = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "haredis_operator_sentinel_config_epoch",
		Help: "Each sentinel's configuration epoch for the master (each failover takes a higher one); absent while it names none.",
	}, []string{"namespace", "redisfailover", "sentinel"})
	volumeUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "haredis_operator_volume_used_ratio",
		Help: "Share of each instance's volume in use (status.instances[].storageUsedPercent / 100).",
	}, []string{"namespace", "redisfailover", "instance"})
)

func init() {
	crmetrics.Registry.MustRegister(failoversTotal, switchoversTotal, switchoverSeconds, switchoverWritesHeld,
		backupsTotal, backupSeconds, cutoversTotal, conditionGauge, sentinelsDesired, sentinelsAgreeing, sentinelNamesPrimary, sentinelEpoch, volumeUsed)
}

// exportStatus sets the gauges that mirror rf's status, and starts rf's
// counters at zero so that alerts on their increase see the first one.
// sentinels is the size of the set of sentinels in charge: the RedisFailover's
// own, or its SentinelPool's.
func exportStatus(rf *haredisv1.RedisFailover, sentinels int) {
	ns, name := rf.Namespace, rf.Name
	forgetMetrics(ns, name, conditionGauge, volumeUsed, sentinelNamesPrimary, sentinelEpoch)
	for _, c := range rf.Status.Conditions {
		conditionGauge.WithLabelValues(ns, name, c.Type).Set(metrics.Bool(c.Status == metav1.ConditionTrue))
	}
	sentinelsDesired.WithLabelValues(ns, name).Set(float64(sentinels))
	agreeing := 0
	for _, v := range rf.Status.SentinelViews {
		names := v.Primary != "" && v.Primary == rf.Status.CurrentPrimary
		if names {
			agreeing++
		}
		sentinelNamesPrimary.WithLabelValues(ns, name, v.Name).Set(metrics.Bool(names))
		if v.Primary != "" {
			sentinelEpoch.WithLabelValues(ns, name, v.Name).Set(float64(v.ConfigEpoch))
		}
	}
	sentinelsAgreeing.WithLabelValues(ns, name).Set(float64(agreeing))
	for _, i := range rf.Status.Instances {
		if i.StorageUsedPercent != nil {
			volumeUsed.WithLabelValues(ns, name, i.Name).Set(float64(*i.StorageUsedPercent) / 100)
		}
	}
	failoversTotal.WithLabelValues(ns, name)
	for _, reason := range []string{haredisv1.SwitchoverRequested, haredisv1.SwitchoverRollingUpdate} {
		for _, result := range []string{haredisv1.SwitchoverSucceeded, haredisv1.SwitchoverFailed} {
			switchoversTotal.WithLabelValues(ns, name, reason, result)
		}
	}
	for _, result := range []haredisv1.BackupPhase{haredisv1.BackupCompleted, haredisv1.BackupFailed} {
		backupsTotal.WithLabelValues(ns, string(result))
	}
}

// forgetMetrics removes the series of RedisFailover ns/name from vecs (all
// of them when none is given): a deleted RedisFailover leaves none behind.
func forgetMetrics(ns, name string, vecs ...interface {
	DeletePartialMatch(prometheus.Labels) int
}) {
	if len(vecs) == 0 {
		vecs = append(vecs, failoversTotal, switchoversTotal, cutoversTotal, conditionGauge, sentinelsDesired, sentinelsAgreeing, sentinelNamesPrimary, sentinelEpoch, volumeUsed)
	}
	for _, v := range vecs {
		v.DeletePartialMatch(prometheus.Labels{"namespace": ns, "redisfailover": name})
	}
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
