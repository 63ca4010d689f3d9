package plugin

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// notReady is readyRF with Ready=False for reason since a minute, and
// phase.
func notReady(reason string, phase haredisv1.Phase, message string) func() *haredisv1.RedisFailover {
	return func() *haredisv1.RedisFailover {
		rf := readyRF()
		meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason,
			LastTransitionTime: metav1.NewTime(now.Add(-time.Minute)), Message: message})
		rf.Status.Phase = phase
		return rf
	}
}

func TestStatusGolden(t *testing.T) {
	cases := map[string]struct {
		rf    func() *haredisv1.RedisFailover
		state string
	}{
		"ready":        {readyRF, StateReady},
		"failing-over": {failingOverRF, StateFailingOver},
		"waiting":      {waitingRF, StateNotServing},
		"noproxy": {func() *haredisv1.RedisFailover {
			rf := readyRF()
			f := false
			rf.Spec.Proxy.Enabled = &f
			rf.Status.Endpoints.RedisURL = "redis://app.shop.svc.cluster.local:6379"
			return rf
		}, StateReady},
		"backups": {func() *haredisv1.RedisFailover {
			rf := readyRF()
			last, next := metav1.NewTime(now.Add(-3*time.Hour)), metav1.NewTime(now.Add(21*time.Hour))
			rf.Status.Backup = &haredisv1.BackupStatus{LastSuccessfulBackup: "app-20261202-0100", LastSuccessfulTime: &last, NextScheduleTime: &next}
			return rf
		}, StateReady},
		"fenced": {notReady(haredisv1.ReasonFenced, haredisv1.PhaseFenced,
			"spec.fenced is true: every instance refuses writes on purpose (NOREPLICAS) and app-2 serves reads; set spec.fenced to false (kubectl haredis unfence app) to take writes again"), StateFenced},
		"importing": {func() *haredisv1.RedisFailover {
			rf := notReady(haredisv1.ReasonImporting, haredisv1.PhaseImporting,
				"live import: app-1 replicates from 10.0.0.9:6379; REDIS_URL reaches the source through the proxy until the cutover; in sync: start the cutover with kubectl annotate redisfailovers.haredis.dev app haredis.dev/cutover=now")()
			rf.Status.LiveImport = &haredisv1.LiveImportStatus{Source: "10.0.0.9:6379", LinkUp: true, LagBytes: 2048}
			return rf
		}, StateImporting},
		"hibernated": {notReady(haredisv1.ReasonHibernated, haredisv1.PhaseHibernated,
			"hibernated: no pod runs; the 3 volumes, the Services and the Secrets are kept. Set spec.hibernate to false (kubectl haredis hibernate off app) to wake it with its data"), StateHibernated},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, cluster(tc.rf())...)
			r, err := Status(ctx, c, "shop", "app")
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict.State != tc.state {
				t.Errorf("verdict %+v, want %s", r.Verdict, tc.state)
			}
			var text bytes.Buffer
			PrintStatus(&text, r, false, now)
			golden(t, "status/"+name+".txt", text.String())
			if strings.Contains(text.String(), "\x1b[") {
				t.Error("colour without a terminal")
			}
			var js bytes.Buffer
			if err := PrintData(&js, OutputJSON, r); err != nil {
				t.Fatal(err)
			}
			golden(t, "status/"+name+".json", js.String())
			var back StatusReport
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatalf("-o json does not parse: %v", err)
			}
		})
	}
}

func TestStatusColour(t *testing.T) {
	c := fakeClient(t, cluster(failingOverRF())...)
	r, err := Status(ctx, c, "shop", "app")
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	PrintStatus(&text, r, true, now)
	golden(t, "status/failing-over.color.txt", text.String())
	if !strings.Contains(text.String(), colorRed+colorBold+"FAILING OVER"+colorReset) {
		t.Errorf("the verdict is not red:\n%q", text.String())
	}
}

// Without pods or nodes to read, status still reports what the
// RedisFailover's status says, and says what it could not read.
func TestStatusWithoutPodsAndNodes(t *testing.T) {
	var objs []client.Object
	for _, o := range cluster(readyRF()) {
		if _, isRF := o.(*haredisv1.RedisFailover); isRF {
			objs = append(objs, o)
		}
	}
	r, err := Status(ctx, fakeClient(t, objs...), "shop", "app")
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	PrintStatus(&text, r, false, now)
	golden(t, "status/no-pods.txt", text.String())
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 12 << 20: "12 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
}
