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
	t := toggle{field: "spec.hibernate", on: on,
		get:      func(rf *haredisv1.RedisFailover) bool { return rf.Spec.Hibernate },
		set:      func(rf *haredisv1.RedisFailover) { rf.Spec.Hibernate = on },
		asked:    [2]string{"asked %s to wake: its pods start again on their volumes", "asked %s to hibernate: its pods stop, its volumes stay"},
		doneText: [2]string{"awake and Ready", "hibernated: no pod runs, the volumes are kept"},
		done: func(rf *haredisv1.RedisFailover) bool {
			if on {
				return rf.Status.Phase == haredisv1.PhaseHibernated
			}
			return meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady)
		},
	}
	return t.run(ctx, c, out, ns, name, wait)
}

// Fence sets spec.fenced of RedisFailover ns/name to on and, unless wait is
// zero, waits until every write is refused (the primary runs with the
// fence) or, unfencing, it is Ready again.
func Fence(ctx context.Context, c client.Client, out io.Writer, ns, name string, on bool, wait time.Duration) error {
	t := toggle{field: "spec.fenced", on: on,
		get:      func(rf *haredisv1.RedisFailover) bool { return rf.Spec.Fenced },
		set:      func(rf *haredisv1.RedisFailover) { rf.Spec.Fenced = on },
		asked:    [2]string{"asked %s to lift the fence", "asked %s to refuse every write (reads go on)"},
		doneText: [2]string{"unfenced and Ready: writes are taken", "fenced: every write is refused, reads are served"},
		done: func(rf *haredisv1.RedisFailover) bool {
			if on {
				return rf.Status.Phase == haredisv1.PhaseFenced && fenceInForce(rf)
			}
			return meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady)
		},
	}
	return t.run(ctx, c, out, ns, name, wait)
}

// fenceInForce: the Ready condition says the primary runs with the
// fence, not that it is being applied.
func fenceInForce(rf *haredisv1.RedisFailover) bool {
	c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
	return c != nil && c.Reason == haredisv1.ReasonFenced
}

// toggle is a boolean of the spec that a verb sets and waits for.
type toggle struct {
	field string
	on    bool
	get   func(*haredisv1.RedisFailover) bool
	set   func(*haredisv1.RedisFailover)
	done  func(*haredisv1.RedisFailover) bool
	// asked and doneText are said for off ([0]) and on ([1]).
	asked, doneText [2]string
}

func (t toggle) index() int {
	if t.on {
		return 1
	}
	return 0
}

func (t toggle) run(ctx context.Context, c client.Client, out io.Writer, ns, name string, wait time.Duration) error {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if t.get(rf) != t.on {
		patch := client.MergeFrom(rf.DeepCopy())
		t.set(rf)
		if err := c.Patch(ctx, rf, patch); err != nil {
			return explain(err, "patch", "redisfailovers", ns, t.field)
		}
		fmt.Fprintf(out, t.asked[t.index()]+"\n", name)
	}
	settled := func(rf *haredisv1.RedisFailover) bool {
		return rf.Status.ObservedGeneration == rf.Generation && t.done(rf)
	}
	if settled(rf) {
		fmt.Fprintf(out, "%s is %s\n", name, t.doneText[t.index()])
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
			if settled(rf) {
				fmt.Fprintf(out, "%s is %s\n", name, t.doneText[t.index()])
				return nil
			}
		}
		select {
		case <-ctx.Done():
			why := ""
			if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady); c != nil {
				why = ": " + quoteCondition(c)
			}
			return fmt.Errorf("%s is not %s after %s (phase %s%s); it goes on: see kubectl haredis status %s", name, t.doneText[t.index()], wait, rf.Status.Phase, why, name)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
