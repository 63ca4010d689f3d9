package plugin

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// primaryReasons are the reasons of Ready=False that mean the primary does
// not take writes.
var primaryReasons = map[string]bool{
	haredisv1.ReasonPrimaryWaiting:     true,
	haredisv1.ReasonPrimaryUnavailable: true,
	haredisv1.ReasonPrimaryNotReady:    true,
	haredisv1.ReasonPrimaryRestarting:  true,
	haredisv1.ReasonPasswordLost:       true,
	haredisv1.ReasonHibernating:        true,
	haredisv1.ReasonHibernated:         true,
	haredisv1.ReasonWaking:             true,
	haredisv1.ReasonFenced:             true,
	haredisv1.ReasonFencing:            true,
	haredisv1.ReasonUnfencing:          true,
}

// NoPrimary says why rf has no primary that takes writes, quoting the
// condition that tells, or returns nil when its primary takes writes (or
// nothing says it does not).
func NoPrimary(rf *haredisv1.RedisFailover) error {
	ready := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
	if ready == nil || rf.Status.CurrentPrimary == "" {
		return fmt.Errorf("RedisFailover %s has no primary yet: the operator has not reported on it (is it running? kubectl get pods -n haredis-system)", rf.Name)
	}
	if ready.Status == metav1.ConditionTrue {
		return nil
	}
	degraded := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionDegraded)
	if primaryReasons[ready.Reason] || (degraded != nil && degraded.Status == metav1.ConditionTrue && degraded.Reason == haredisv1.ReasonWritesNotAccepted) {
		return fmt.Errorf("RedisFailover %s has no primary that takes writes yet: %s", rf.Name, quoteCondition(ready))
	}
	return nil
}

// quoteCondition renders a condition as the status shows it.
func quoteCondition(c *metav1.Condition) string {
	return fmt.Sprintf("%s=%s (%s): %s", c.Type, c.Status, c.Reason, c.Message)
}

// Hibernated tells whether rf is hibernated or on its way there: its pods
// are gone or going.
func Hibernated(rf *haredisv1.RedisFailover) bool {
	ready := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
	return ready != nil && (ready.Reason == haredisv1.ReasonHibernated || ready.Reason == haredisv1.ReasonHibernating)
}
