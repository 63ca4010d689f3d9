package controller

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
)

// runbook is where the documentation explains each situation.
const (
	runbookCorrupt = "docs/runbooks.md#an-instance-cannot-load-its-data-files"
	runbookChoose  = "docs/runbooks.md#choosing-the-primary-after-a-full-restart"
)

// writesBlocked says why the recorded primary does not take writes and what
// happens next; ok is true when it does take them.
func writesBlocked(rf *haredisv1.RedisFailover, st *state) (ok bool, reason, msg string) {
	primary := rf.Status.CurrentPrimary
	ps := st.statuses[primary]
	pod := st.pods[primary]
	switch {
	case primaryTakesWrites(ps) && (pod == nil || podServes(pod)):
		return true, "", ""
	case primaryTakesWrites(ps) && pod.DeletionTimestamp != nil:
		// A terminating pod leaves its Services at once, before its
		// containers stop.
		return false, haredisv1.ReasonPrimaryNotReady, fmt.Sprintf("writes are not accepted through %s: the pod of the primary %s is being deleted; %s", rf.PrimaryServiceName(), primary, nextStep(rf, st))
	case primaryTakesWrites(ps):
		// The instance takes writes; the Service NAME-primary reaches it once
		// the kubelet marks the pod ready (a readiness probe away).
		return false, haredisv1.ReasonPrimaryNotReady, fmt.Sprintf("%s takes writes; its pod is not marked ready yet, so %s does not reach it yet", primary, rf.PrimaryServiceName())
	case ps == nil && st.pods[primary] == nil:
		return false, haredisv1.ReasonPrimaryUnavailable, fmt.Sprintf("writes are not accepted: the primary %s has no pod yet; %s", primary, nextStep(rf, st))
	case ps == nil:
		return false, haredisv1.ReasonPrimaryUnavailable, fmt.Sprintf("writes are not accepted: the instance manager of the primary %s does not answer; %s", primary, nextStep(rf, st))
	case ps.Phase == instanceapi.PhaseWaiting || ps.Phase == instanceapi.PhaseDeciding:
		why := "it decides its boot role"
		since := ""
		if d := ps.LastDecision; d != nil {
			why = d.Reason
			if !d.Since.IsZero() {
				since = fmt.Sprintf(" for %s", time.Since(d.Since).Round(time.Second))
			}
		}
		return false, haredisv1.ReasonPrimaryWaiting, fmt.Sprintf("writes are not accepted: the primary %s keeps redis-server stopped%s: %s; %s", primary, since, why, nextStep(rf, st))
	case ps.Role != instanceapi.RolePrimary:
		return false, haredisv1.ReasonPrimaryNotReady, fmt.Sprintf("writes are not accepted: %s, the recorded primary, is %s (%s); %s", primary, ps.Role, ps.ReadyReason, nextStep(rf, st))
	}
	return false, haredisv1.ReasonPrimaryNotReady, fmt.Sprintf("writes are not accepted: %s: %s", primary, ps.ReadyReason)
}

// primaryTakesWrites says whether the instance reports itself a primary
// that takes writes (whether or not its pod is marked ready yet).
func primaryTakesWrites(ps *instanceapi.Status) bool {
	return ps != nil && ps.Role == instanceapi.RolePrimary && ps.Ready
}

// podServes: the pod is ready and not terminating, so the Services that
// select it reach it (a terminating pod leaves their endpoints at once).
func podServes(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && podIsReady(p) }

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nextStep tells what the sentinels will do about a primary that does not
// take writes: which replicas they may promote, or why none.
func nextStep(rf *haredisv1.RedisFailover, st *state) string {
	var can, cannot []string
	for _, n := range st.instances {
		s := st.statuses[n]
		if n == rf.Status.CurrentPrimary || s == nil || s.Role != instanceapi.RoleReplica {
			continue
		}
		if s.Promotable {
			can = append(can, n)
			continue
		}
		why := s.PromotableReason
		if why == "" {
			why = s.ReadyReason
		}
		cannot = append(cannot, fmt.Sprintf("%s (%s)", n, why))
	}
	downAfter, _ := sentinelTimings(rf)
	down := downAfter.String()
	switch {
	case len(can) > 0 && mustTeach(rf, st):
		return fmt.Sprintf("SentinelPool %s's sentinels learn a replica only from a running primary: %d of %d know every replica; they are restarted one at a time knowing every instance, and fail over to one of %s once all of them do", rf.Status.SentinelPool, poolKnowing(st), st.sentinelCount, strings.Join(can, ", "))
	case len(can) > 0:
		return fmt.Sprintf("the sentinels fail over to one of %s once they count the primary down (spec.sentinel.downAfter %s)", strings.Join(can, ", "), down)
	case len(cannot) > 0:
		return fmt.Sprintf("no replica can be promoted yet: %s", strings.Join(cannot, "; "))
	}
	return "no replica runs that the sentinels could promote"
}

// dataCorrupt lists instances that cannot load their data files.
func dataCorrupt(st *state) (bool, string) {
	var msgs []string
	for _, n := range st.instances {
		if s := st.statuses[n]; s != nil && s.DataError != "" {
			msgs = append(msgs, fmt.Sprintf("%s: %s", n, s.DataError))
		}
	}
	if len(msgs) == 0 {
		return false, ""
	}
	return true, fmt.Sprintf("%s; a replica moves its unreadable files aside by itself and resynchronises from the primary; for the primary's own files see %s", strings.Join(msgs, "; "), runbookCorrupt)
}

// recordRestores gives a Warning event whenever an instance manager put
// back parameters that were changed on its server behind the operator's
// back.
func (r *RedisFailoverReconciler) recordRestores(rf *haredisv1.RedisFailover, st *state) {
	for _, n := range st.instances {
		s, p := st.statuses[n], st.pods[n]
		if s == nil || p == nil || s.Config.Restores == 0 {
			continue
		}
		key := string(p.UID)
		if prev, ok := r.restores.Load(key); ok && prev.(int) >= s.Config.Restores {
			continue
		}
		r.restores.Store(key, s.Config.Restores)
		r.eventOn(rf, p, corev1.EventTypeWarning, haredisv1.EventConfigRestored, "RestoreConfig", "%s: %s (spec.redis.config is what runs)", n, s.Config.LastRestore)
	}
}

// recordWaits gives one Warning event for every boot decision that keeps an
// instance stopped longer than the sentinels' down-after period (the time
// a failover would take to begin), with the decision's reason.
func (r *RedisFailoverReconciler) recordWaits(rf *haredisv1.RedisFailover, st *state) {
	down, _ := sentinelTimings(rf)
	for _, n := range st.instances {
		key := rf.Namespace + "/" + n + "/" + string(rf.UID)
		s := st.statuses[n]
		if s == nil || s.LastDecision == nil || (s.Phase != instanceapi.PhaseWaiting && s.Phase != instanceapi.PhaseDeciding) {
			r.waits.Delete(key)
			continue
		}
		d := s.LastDecision
		if d.Since.IsZero() || time.Since(d.Since) < down {
			continue
		}
		if prev, ok := r.waits.Load(key); ok && prev.(string) == d.Reason {
			continue
		}
		r.waits.Store(key, d.Reason)
		r.eventOn(rf, st.pods[n], corev1.EventTypeWarning, haredisv1.EventBootWaiting, "Boot", "%s keeps redis-server stopped (waiting %s): %s",
			n, time.Since(d.Since).Round(time.Second), d.Reason)
	}
}
