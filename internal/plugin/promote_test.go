package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// A refusal of the same target a moment before (a switchover asked for
// while fenced, then the fence lifted) is not taken for the outcome of the
// new request: promote waits for the operator's answer to it.
func TestPromoteWaitsForItsOwnOutcome(t *testing.T) {
	rf := readyRF()
	cur := rf.Status.CurrentPrimary
	ended := metav1.Now()
	rf.Status.LastSwitchover = &haredisv1.SwitchoverStatus{From: cur, To: "app-3", Reason: haredisv1.SwitchoverRequested,
		Result: haredisv1.SwitchoverFailed, Message: "spec.fenced is true", StartTime: &ended, EndTime: &ended}
	c := fakeClient(t, rf)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Promote(ctx, c, &out, "shop", "app", "app-3", 10*time.Second) }()
	// The operator's part: once the request is there, a successful end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := &haredisv1.RedisFailover{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rf), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.TargetPrimary == "app-3" {
			now := metav1.NewTime(time.Now().Add(time.Second))
			got.Status.LastSwitchover = &haredisv1.SwitchoverStatus{From: cur, To: "app-3", Reason: haredisv1.SwitchoverRequested,
				Result: haredisv1.SwitchoverSucceeded, Message: "switched over from " + cur + " to app-3", StartTime: &now, EndTime: &now}
			got.Status.CurrentPrimary = "app-3"
			if err := c.Status().Update(ctx, got); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("promote did not ask for the switchover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("promote: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "switched over from "+cur+" to app-3") {
		t.Errorf("promote printed:\n%s", out.String())
	}
}
