package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Promote asks for a planned switchover of RedisFailover ns/name to the
// instance target by setting status.targetPrimary, then, unless wait is
// zero, waits for the outcome and prints it. It fails when the switchover
// failed (the old primary then keeps serving) or did not end within wait.
func Promote(ctx context.Context, c client.Client, out io.Writer, ns, name, target string, wait time.Duration) error {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if !isInstance(rf.Status.Instances, target) {
		return fmt.Errorf("%s is not an instance of %s; its instances are %s", target, name, instanceNames(rf.Status.Instances))
	}
	if rf.Status.CurrentPrimary == target {
		fmt.Fprintf(out, "%s is already the primary of %s\n", target, name)
		return nil
	}
	if err := NoPrimary(rf); err != nil {
		return fmt.Errorf("a switchover moves a primary that takes writes: %w", err)
	}
	// The outcome is a lastSwitchover that ended after the request (a
	// second of slack: the operator's clock, times kept to the second) and
	// is not the one already there, which may be a refusal of the same
	// target a moment ago.
	requested := time.Now().Add(-time.Second)
	before := rf.Status.LastSwitchover.DeepCopy()
	patch := client.MergeFrom(rf.DeepCopy())
	rf.Status.TargetPrimary = target
	if err := c.Status().Patch(ctx, rf, patch); err != nil {
		return explain(err, "patch", "redisfailovers/status", ns, "status.targetPrimary (to ask for the switchover)")
	}
	fmt.Fprintf(out, "asked %s to switch over from %s to %s\n", name, rf.Status.CurrentPrimary, target)
	if wait == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rf); err == nil {
			ls := rf.Status.LastSwitchover
			if ls != nil && ls.To == target && ls.EndTime != nil && !ls.EndTime.Time.Before(requested) && !equality.Semantic.DeepEqual(ls, before) {
				fmt.Fprintln(out, ls.Message)
				if ls.Result != haredisv1.SwitchoverSucceeded {
					return fmt.Errorf("the switchover failed; %s is still the primary", rf.Status.CurrentPrimary)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the switchover to %s did not end within %s; see kubectl describe rf %s", target, wait, name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
