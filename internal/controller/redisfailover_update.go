package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// updateWaitPeriod is how often a rolling update that waits for an
// instance or sentinel looks again.
const updateWaitPeriod = time.Second

// planUpdate fills st.update from what the pods run (rev is the current
// instance revision) and what the instances and sentinels report
// (planRollingUpdate). It returns the instances as the plan saw them, in
// the order of st.instances.
func (r *RedisFailoverReconciler) planUpdate(rf *haredisv1.RedisFailover, st *state, rev string) []memberState {
	in := updateInput{
		sentinelsHealthy:  r.sentinelsHealthy(rf, st),
		switchoverBlocked: (rf.Status.TargetPrimary != "" && rf.Status.TargetPrimary != rf.Status.CurrentPrimary) || switchoverFailedRecently(rf),
		imageRefused:      st.moveRefused,
	}
	for _, n := range st.instances {
		m := memberState{name: n, primary: n == rf.Status.CurrentPrimary, lagBytes: -1}
		if p := st.pods[n]; p != nil {
			m.hasPod, m.deleting = true, p.DeletionTimestamp != nil
			m.current = p.Annotations[haredisv1.AnnotationRevision] == rev
		}
		if s := st.statuses[n]; s != nil {
			m.ready, m.lagBytes = s.Ready, s.LagBytes
			m.pendingRestart = s.Config.RestartRequired
		}
		in.members = append(in.members, m)
	}
	srev := specs.SentinelRevision(rf, r.Options)
	have := map[string]*corev1.Pod{}
	for i := range st.sentinels {
		have[st.sentinels[i].Name] = &st.sentinels[i]
	}
	if rf.Spec.Sentinel.PoolRef == nil && !rf.OnPool() {
		// Dedicated sentinels only: a pool rolls its own.
		for i := 1; i <= int(rf.Spec.Sentinel.Replicas); i++ {
			n := rf.SentinelName(i)
			s := sentinelState{name: n}
			if p := have[n]; p != nil {
				s.hasPod, s.deleting, s.current = true, p.DeletionTimestamp != nil, p.Annotations[haredisv1.AnnotationRevision] == srev
			}
			in.sentinels = append(in.sentinels, s)
		}
	}
	st.update = nextUpdate(in)
	return in.members
}

// sentinelsHealthy: every sentinel in charge (dedicated or the pool's) answers, knows every replica
// and peer, sees every replica up and connected (a replaced replica is
// flagged down until the sentinels reach its new pod, and a switchover to
// it would wait for them, then fail), and a majority names the recorded
// primary.
func (r *RedisFailoverReconciler) sentinelsHealthy(rf *haredisv1.RedisFailover, st *state) bool {
	v := st.view
	return v.asked == st.sentinelCount && v.answered == v.asked && v.complete == v.asked && v.primary == rf.Status.CurrentPrimary &&
		len(v.downReplicas) == 0
}

// rollingUpdate carries out the step planUpdate chose: replace one pod, or
// ask for a switchover away from an outdated primary. Replaced pods are
// created again by reconcileInstancePods / reconcileSentinelPods from the
// current spec, on their own volumes.
func (r *RedisFailoverReconciler) rollingUpdate(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	u := st.update
	logger := log.FromContext(ctx)
	switch u.kind {
	case updateNone:
		return ctrl.Result{}, nil
	case updateWait:
		logger.V(1).Info("rolling update waits", "reason", u.message)
		return ctrl.Result{RequeueAfter: updateWaitPeriod}, nil
	case updateDeletePod:
		p := st.pods[u.target]
		if u.target == rf.Status.CurrentPrimary {
			// The only instance (no replica to switch over to): writes stop
			// until it is back, and the status says so before it goes.
			msg := fmt.Sprintf("writes are not accepted: the rolling update restarts %s, the only instance, to run the current spec (%s); it is back in a few seconds", u.target, u.message)
			if err := r.updateStatus(ctx, rf, func(rf *haredisv1.RedisFailover) {
				meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse,
					Reason: haredisv1.ReasonPrimaryRestarting, Message: msg, ObservedGeneration: rf.Generation})
				rf.Status.Phase = haredisv1.PhaseUpdating
			}); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot report the restart of %s: %w", u.target, err)
			}
		}
		if err := r.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("cannot delete pod %s for the rolling update: %w", u.target, err)
		}
		logger.Info("rolling update: replacing instance pod", "pod", u.target, "plan", u.message)
		r.eventOn(rf, p, corev1.EventTypeNormal, haredisv1.EventRollingUpdate, "Update", "replacing pod %s: %s", u.target, u.message)
		return ctrl.Result{RequeueAfter: updateWaitPeriod}, nil
	case updateDeleteSentinel:
		for i := range st.sentinels {
			p := &st.sentinels[i]
			if p.Name != u.target {
				continue
			}
			if err := r.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("cannot delete sentinel pod %s for the rolling update: %w", u.target, err)
			}
		}
		logger.Info("rolling update: replacing sentinel pod", "pod", u.target)
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventRollingUpdate, "Update", "replacing sentinel pod %s", u.target)
		return ctrl.Result{RequeueAfter: updateWaitPeriod}, nil
	case updateSwitchover:
		if rf.Spec.Fenced {
			// The switchover would lift the fence for a moment; the
			// primary's pod is replaced once it is unfenced.
			logger.Info("rolling update: the primary's pod waits until spec.fenced is false", "primary", rf.Status.CurrentPrimary)
			return ctrl.Result{RequeueAfter: waitForUser}, nil
		}
		now := metav1.Now()
		rf.Status.TargetPrimary = u.target
		rf.Status.LastSwitchover = &haredisv1.SwitchoverStatus{From: rf.Status.CurrentPrimary, To: u.target, Reason: haredisv1.SwitchoverRollingUpdate,
			Result: haredisv1.SwitchoverInProgress, Message: u.message, StartTime: &now}
		if err := r.Status().Update(ctx, rf); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot ask for a switchover: %w", err)
		}
		logger.Info("rolling update: switching over before replacing the primary", "from", rf.Status.CurrentPrimary, "to", u.target)
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	return ctrl.Result{}, nil
}
