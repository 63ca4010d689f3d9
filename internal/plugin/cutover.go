package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Cutover asks for the cutover of RedisFailover ns/name's live import (the
// annotation haredis.dev/cutover) and, unless wait is zero, waits for its
// outcome: haredis's primary is the writer, or the operator tried and says
// why not (the import then goes on).
func Cutover(ctx context.Context, c client.Client, out io.Writer, ns, name string, wait time.Duration) error {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if rf.Spec.Bootstrap == nil || rf.Spec.Bootstrap.FromRedis == nil {
		return fmt.Errorf("%s does not import from a running Redis (spec.bootstrap.fromRedis is not set): there is nothing to cut over", name)
	}
	if cutOver(rf) {
		fmt.Fprintf(out, "%s\n", cutoverDone(rf))
		return nil
	}
	if _, asked := rf.Annotations[haredisv1.AnnotationCutover]; !asked {
		patch := client.MergeFrom(rf.DeepCopy())
		if rf.Annotations == nil {
			rf.Annotations = map[string]string{}
		}
		rf.Annotations[haredisv1.AnnotationCutover] = time.Now().UTC().Format(time.RFC3339)
		if err := c.Patch(ctx, rf, patch); err != nil {
			return explain(err, "patch", "redisfailovers", ns, "the annotation "+haredisv1.AnnotationCutover)
		}
	}
	fmt.Fprintf(out, "asked %s to cut over from %s: it starts once the import is in sync\n", name, sourceOf(rf))
	if wait == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	said := ""
	for {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rf); err == nil {
			_, asked := rf.Annotations[haredisv1.AnnotationCutover]
			li := rf.Status.LiveImport
			switch {
			case cutOver(rf):
				fmt.Fprintf(out, "%s\n", cutoverDone(rf))
				return nil
			case !asked && li != nil && li.LastCutoverError != "":
				return fmt.Errorf("the cutover did not happen, the import goes on: %s; ask again with kubectl haredis cutover %s", li.LastCutoverError, name)
			case li != nil && !li.LinkUp && li.Problem != "" && said != li.Problem:
				said = li.Problem
				fmt.Fprintf(out, "%s: not in sync yet: %s\n", name, li.Problem)
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s did not cut over within %s; the request stands: see kubectl haredis status %s", name, wait, name), importProblem(rf))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// cutOver: the live import's cutover happened.
func cutOver(rf *haredisv1.RedisFailover) bool {
	c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionBootstrapped)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == haredisv1.ReasonBootstrapImported
}

func cutoverDone(rf *haredisv1.RedisFailover) string {
	s := fmt.Sprintf("%s is the writer: it took over from %s", rf.Status.CurrentPrimary, sourceOf(rf))
	if li := rf.Status.LiveImport; li != nil && li.CutoverTime != nil {
		s += " at " + li.CutoverTime.UTC().Format(time.RFC3339)
	}
	return s
}

func sourceOf(rf *haredisv1.RedisFailover) string {
	if li := rf.Status.LiveImport; li != nil && li.Source != "" {
		return li.Source
	}
	return rf.Spec.Bootstrap.FromRedis.Host
}

// importProblem is why the import is not in sync, nil when it is.
func importProblem(rf *haredisv1.RedisFailover) error {
	if li := rf.Status.LiveImport; li != nil && !li.LinkUp && li.Problem != "" {
		return errors.New("the import is not in sync: " + li.Problem)
	}
	return nil
}
