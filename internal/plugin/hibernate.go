package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Hibernate sets spec.hibernate of RedisFailover ns/name to on and, unless
// wait is zero, waits until it is hibernated (every pod gone, volumes kept)
// or, waking, Ready again, printing each phase it passes.
func Hibernate(ctx context.Context, c client.Client, out io.Writer, ns, name string, on bool, wait time.Duration) error {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if rf.Spec.Hibernate != on {
		patch := client.MergeFrom(rf.DeepCopy())
		rf.Spec.Hibernate = on
		if err := c.Patch(ctx, rf, patch); err != nil {
			return explain(err, "patch", "redisfailovers", ns, "spec.hibernate")
		}
		if on {
			fmt.Fprintf(out, "asked %s to hibernate: its pods stop, its volumes stay\n", name)
		} else {
			fmt.Fprintf(out, "asked %s to wake: its pods start again on their volumes\n", name)
		}
	}
	done := func(rf *haredisv1.RedisFailover) bool {
		if rf.Status.ObservedGeneration != rf.Generation {
			return false
		}
		if on {
			return rf.Status.Phase == haredisv1.PhaseHibernated
		}
		return meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady)
	}
	if done(rf) {
		fmt.Fprintf(out, "%s is %s\n", name, doneWord(on))
		return nil
	}
	if wait == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := rf.Status.Phase
	for {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rf); err == nil {
			if rf.Status.Phase != last && rf.Status.ObservedGeneration == rf.Generation {
				last = rf.Status.Phase
				fmt.Fprintf(out, "%s: %s\n", name, last)
			}
			if done(rf) {
				fmt.Fprintf(out, "%s is %s\n", name, doneWord(on))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			why := ""
			if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady); c != nil {
				why = ": " + quoteCondition(c)
			}
			return fmt.Errorf("%s is not %s after %s (phase %s%s); it goes on: see kubectl haredis status %s", name, doneWord(on), wait, rf.Status.Phase, why, name)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func doneWord(on bool) string {
	if on {
		return "hibernated: no pod runs, the volumes are kept"
	}
	return "awake and Ready"
}
