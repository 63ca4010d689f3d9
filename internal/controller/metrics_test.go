package controller

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func TestExportStatusMirrorsTheStatus(t *testing.T) {
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "metrics-cache"}}
	rf.Spec.Sentinel.Replicas = 3
	rf.Status.CurrentPrimary = "metrics-cache-2"
	rf.Status.Conditions = []metav1.Condition{
		{Type: haredisv1.ConditionReady, Status: metav1.ConditionTrue},
		{Type: haredisv1.ConditionBackupsCurrent, Status: metav1.ConditionFalse},
	}
	rf.Status.SentinelViews = []haredisv1.SentinelView{{Name: "s1", Primary: "metrics-cache-2", ConfigEpoch: 4}, {Name: "s2", Primary: "metrics-cache-1", ConfigEpoch: 3}, {Name: "s3", Problem: "did not answer"}}
	rf.Status.Instances = []haredisv1.InstanceStatus{{Name: "metrics-cache-1", StorageUsedPercent: ptr.To[int32](85)}, {Name: "metrics-cache-2"}}
	exportStatus(rf, int(rf.Spec.Sentinel.Replicas))
	for what, got := range map[string]float64{
		"Ready":          testutil.ToFloat64(conditionGauge.WithLabelValues("shop", "metrics-cache", haredisv1.ConditionReady)),
		"BackupsCurrent": testutil.ToFloat64(conditionGauge.WithLabelValues("shop", "metrics-cache", haredisv1.ConditionBackupsCurrent)),
		"desired":        testutil.ToFloat64(sentinelsDesired.WithLabelValues("shop", "metrics-cache")),
		"agreeing":       testutil.ToFloat64(sentinelsAgreeing.WithLabelValues("shop", "metrics-cache")),
		"volume":         testutil.ToFloat64(volumeUsed.WithLabelValues("shop", "metrics-cache", "metrics-cache-1")),
		"failovers":      testutil.ToFloat64(failoversTotal.WithLabelValues("shop", "metrics-cache")),
		"s1 names":       testutil.ToFloat64(sentinelNamesPrimary.WithLabelValues("shop", "metrics-cache", "s1")),
		"s2 names":       testutil.ToFloat64(sentinelNamesPrimary.WithLabelValues("shop", "metrics-cache", "s2")),
		"s1 epoch":       testutil.ToFloat64(sentinelEpoch.WithLabelValues("shop", "metrics-cache", "s1")),
	} {
		want := map[string]float64{"Ready": 1, "BackupsCurrent": 0, "desired": 3, "agreeing": 1, "volume": 0.85, "failovers": 0,
			"s1 names": 1, "s2 names": 0, "s1 epoch": 4}[what]
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	if n := testutil.CollectAndCount(sentinelEpoch, "haredis_operator_sentinel_config_epoch"); n != 2 {
		t.Errorf("%d epoch series, want 2 (a sentinel that names none has none)", n)
	}
	if n := testutil.CollectAndCount(volumeUsed, "haredis_operator_volume_used_ratio"); n != 1 {
		t.Errorf("%d volume series, want 1 (an instance without a measure has none)", n)
	}
	forgetMetrics("shop", "metrics-cache")
	for _, c := range []struct {
		name string
		n    int
	}{
		{"haredis_operator_redisfailover_condition", testutil.CollectAndCount(conditionGauge, "haredis_operator_redisfailover_condition")},
		{"haredis_operator_failovers_total", testutil.CollectAndCount(failoversTotal, "haredis_operator_failovers_total")},
		{"haredis_operator_sentinels_agreeing", testutil.CollectAndCount(sentinelsAgreeing, "haredis_operator_sentinels_agreeing")},
	} {
		if c.n != 0 {
			t.Errorf("%s: %d series left after the RedisFailover is gone", c.name, c.n)
		}
	}
}
