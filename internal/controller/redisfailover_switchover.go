package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/switchover"
)

// switchoverRetryAfter keeps a failed switchover from being retried at once
// by the rolling update.
const switchoverRetryAfter = 30 * time.Second

// switchoverPoll is how often a reconcile looks at a running switchover
// when nothing else triggers it; the runner triggers one when it ends.
const switchoverPoll = 5 * time.Second

// switchover starts a planned switchover when status.targetPrimary names
// another instance than status.currentPrimary: a user asked for it
// (`kubectl haredis promote`) or the rolling update did. The target must be
// a ready replica and the sentinels must agree on the current primary;
// writes are fenced on the old primary until the target has all of them,
// and Sentinel promotes it (internal/switchover). The switchover runs off
// the reconcile workers (switchoverRunner); awaitSwitchover records its
// outcome. On failure the old primary keeps serving and targetPrimary is
// reset.
func (r *RedisFailoverReconciler) switchover(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	from, to := rf.Status.CurrentPrimary, rf.Status.TargetPrimary
	if to == "" || to == from {
		return r.closeInterruptedSwitchover(ctx, rf)
	}
	logger := log.FromContext(ctx).WithValues("from", from, "to", to)
	reason := haredisv1.SwitchoverRequested
	if ls := rf.Status.LastSwitchover; ls != nil && ls.To == to && ls.Result == haredisv1.SwitchoverInProgress {
		reason = ls.Reason
	}
	if rf.Spec.Fenced {
		return r.endSwitchover(ctx, rf, reason, haredisv1.SwitchoverFailed, fmt.Sprintf("spec.fenced is true: a switchover lowers min-replicas-to-write for a moment, which would let writes through the fence; unfence first (kubectl haredis unfence %s); %s stays primary", rf.Name, from), 0)
	}
	if msg := r.switchoverTargetProblem(rf, st, to); msg != "" {
		return r.endSwitchover(ctx, rf, reason, haredisv1.SwitchoverFailed, msg+"; "+from+" stays primary", 0)
	}
	if st.view.primary != from {
		// Sentinel is electing or already elected someone else: it decides.
		logger.Info("switchover waits for the sentinels to agree on the primary", "sentinelMajority", st.view.primary)
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	now := metav1.Now()
	rf.Status.LastSwitchover = &haredisv1.SwitchoverStatus{From: from, To: to, Reason: reason, Result: haredisv1.SwitchoverInProgress,
		Message: fmt.Sprintf("switching over from %s to %s", from, to), StartTime: &now}
	if err := r.Status().Update(ctx, rf); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot record the switchover: %w", err)
	}
	logger.Info("switchover started", "reason", reason)
	r.eventOn(rf, st.pods[to], corev1.EventTypeNormal, haredisv1.EventSwitchoverStarted, "Switchover", "switching over from %s to %s (%s)", from, to, reason)

	// The goroutine gets its own copies: the reconcile's rf and st are
	// not touched after it returns, but the next reconcile's are others.
	own := rf.DeepCopy()
	plan := r.switchoverPlan(own, st, from, to)
	plan.Log = logger
	plan.Pause = func(ctx context.Context) error { return r.pauseProxies(ctx, own, st) }
	plan.Resume = func(ctx context.Context, primary string) { r.resumeProxies(ctx, own, st, primary) }
	r.switchovers.start(client.ObjectKeyFromObject(rf), from, to, reason, func(ctx context.Context) switchoverOutcome {
		return r.runSwitchover(log.IntoContext(ctx, logger), own, st, plan, from, to)
	})
	return ctrl.Result{RequeueAfter: switchoverPoll}, nil
}

// runSwitchover carries out plan on the runner's goroutine: the switchover
// itself, the repair of min-replicas-to-write if the switchover could not
// put it back, and a short wait until the sentinels' majority names the new
// primary, so that the next observation does not read their old answer as
// a failover back.
func (r *RedisFailoverReconciler) runSwitchover(ctx context.Context, rf *haredisv1.RedisFailover, st *state, plan switchover.Plan, from, to string) switchoverOutcome {
	logger := log.FromContext(ctx)
	res, err := switchover.Run(ctx, plan)
	if !res.DurabilityRestored() {
		// The switchover lowers min-replicas-to-write for a moment; it puts
		// it back on every path, but if it could not, do it now (and the
		// drift check of applyConfig does it again later if this fails).
		if rerr := switchover.RestoreDurability(context.WithoutCancel(ctx), plan, res.Durability); rerr != nil {
			logger.Info("cannot restore min-replicas-to-write after the switchover yet", "error", rerr.Error())
			r.event(rf, corev1.EventTypeWarning, haredisv1.EventDurabilityNotRestored, "Switchover", "min-replicas-to-write could not be set back after the switchover yet: %v; it is retried", rerr)
		}
	}
	out := switchoverOutcome{err: err, heldMS: res.Fenced.Milliseconds()}
	if err == nil {
		if !res.SentinelsSwitched {
			r.awaitSentinelMajority(ctx, rf, st, to)
		}
		out.message = fmt.Sprintf("switched over from %s to %s in %s; writes were held for %d ms", from, to, res.Total.Round(time.Millisecond), out.heldMS)
		logger.Info("switchover succeeded", "writesHeldMs", out.heldMS, "total", res.Total.String(), "fenceOffset", res.FenceOffset)
	}
	return out
}

// awaitSwitchover holds the rest of the chain while rf's switchover runs
// (the observation would read the sentinels' new answer as a failover, and
// the configuration, scaling and rolling update wait for the outcome
// anyway), and records the outcome when it is there.
func (r *RedisFailoverReconciler) awaitSwitchover(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(rf)
	run := r.switchovers.get(key)
	if run == nil {
		return ctrl.Result{}, nil
	}
	if !run.finished() {
		log.FromContext(ctx).V(1).Info("switchover under way", "from", run.from, "to", run.to)
		return ctrl.Result{RequeueAfter: switchoverPoll}, nil
	}
	res, err := r.recordSwitchover(ctx, rf, st, run)
	if err == nil {
		r.switchovers.forget(key, run)
	}
	return res, err
}

// recordSwitchover writes a finished switchover's outcome to the status,
// moves the role labels after a success, and records an event.
func (r *RedisFailoverReconciler) recordSwitchover(ctx context.Context, rf *haredisv1.RedisFailover, st *state, run *runningSwitchover) (ctrl.Result, error) {
	from, to, reason, out := run.from, run.to, run.reason, run.outcome
	logger := log.FromContext(ctx).WithValues("from", from, "to", to)
	switch err := out.err; {
	case err == nil:
		rf.Status.CurrentPrimary, rf.Status.TargetPrimary = to, to
		rf.Status.FailoverCount++
		rf.Status.LastFailoverTime = &metav1.Time{Time: time.Now()}
		if err := r.reconcileRoleLabels(ctx, rf, st); err != nil {
			logger.Info("cannot move the role labels yet", "error", err.Error())
		}
		r.eventOn(rf, st.pods[to], corev1.EventTypeNormal, haredisv1.EventSwitchover, "Switchover", "%s", out.message)
		return r.endSwitchover(ctx, rf, reason, haredisv1.SwitchoverSucceeded, out.message, out.heldMS)
	case errors.Is(err, switchover.ErrNotStarted), errors.Is(err, switchover.ErrAborted):
		msg := fmt.Sprintf("switchover from %s to %s failed, %s keeps serving: %v", from, to, from, err)
		logger.Info("switchover failed", "error", err.Error())
		r.eventOn(rf, st.pods[to], corev1.EventTypeWarning, haredisv1.EventSwitchoverFailed, "Switchover", "%s", msg)
		return r.endSwitchover(ctx, rf, reason, haredisv1.SwitchoverFailed, msg, out.heldMS)
	default:
		// The outcome is Sentinel's: the next observation reads it.
		msg := fmt.Sprintf("switchover from %s to %s ended without confirmation; the primary is whatever the sentinels elect: %v", from, to, err)
		logger.Info("switchover ended unconfirmed", "error", err.Error())
		r.eventOn(rf, st.pods[to], corev1.EventTypeWarning, haredisv1.EventSwitchoverFailed, "Switchover", "%s", msg)
		return r.endSwitchover(ctx, rf, reason, haredisv1.SwitchoverFailed, msg, out.heldMS)
	}
}

// closeInterruptedSwitchover ends a switchover that an operator restart
// interrupted: the sentinels' answer, already in currentPrimary, says how it
// ended.
func (r *RedisFailoverReconciler) closeInterruptedSwitchover(ctx context.Context, rf *haredisv1.RedisFailover) (ctrl.Result, error) {
	ls := rf.Status.LastSwitchover
	if ls == nil || ls.Result != haredisv1.SwitchoverInProgress {
		return ctrl.Result{}, nil
	}
	if rf.Status.CurrentPrimary == ls.To {
		return r.endSwitchover(ctx, rf, ls.Reason, haredisv1.SwitchoverSucceeded, fmt.Sprintf("switched over from %s to %s; the operator was interrupted and the sentinels confirmed the new primary", ls.From, ls.To), ls.WritesHeldMilliseconds)
	}
	return r.endSwitchover(ctx, rf, ls.Reason, haredisv1.SwitchoverFailed, fmt.Sprintf("switchover from %s to %s interrupted (operator restart); the sentinels name %s", ls.From, ls.To, rf.Status.CurrentPrimary), ls.WritesHeldMilliseconds)
}

// switchoverTargetProblem says why to cannot be promoted now, "" when it can.
func (r *RedisFailoverReconciler) switchoverTargetProblem(rf *haredisv1.RedisFailover, st *state, to string) string {
	member := false
	for _, n := range st.instances {
		member = member || n == to
	}
	s := st.statuses[to]
	switch {
	case !member:
		return fmt.Sprintf("status.targetPrimary: %s is not an instance of %s (instances: %v); set it to one of them", to, rf.Name, st.instances)
	case st.pods[to] == nil || st.pods[to].DeletionTimestamp != nil:
		return fmt.Sprintf("status.targetPrimary: %s has no running pod", to)
	case s == nil:
		return fmt.Sprintf("status.targetPrimary: %s does not answer", to)
	case s.Role != string(haredisv1.RoleReplica) || !s.Ready:
		return fmt.Sprintf("status.targetPrimary: %s is not a ready replica (role %s, %s); wait until it is in sync", to, s.Role, s.ReadyReason)
	}
	return ""
}

func (r *RedisFailoverReconciler) switchoverPlan(rf *haredisv1.RedisFailover, st *state, from, to string) switchover.Plan {
	announced := func(n string) string {
		host, port := r.Reach.InstanceAddr(rf, n)
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	acc := sentinelAccess(rf, st)
	p := switchover.Plan{
		MasterName: st.masterName, Primary: r.Reach.RedisAddr(rf, st.pods[from]), Target: r.Reach.RedisAddr(rf, st.pods[to]),
		PrimaryAnnounced: announced(from), TargetAnnounced: announced(to),
		Sentinels:        r.Reach.SentinelAddrs(rf, st.sentinels),
		SentinelUser:     acc.User,
		SentinelPassword: acc.Password,
		TLS:              st.tls,
	}
	p.Username, p.Password = adminAuth(rf, st)
	for _, n := range st.instances {
		if n == from || n == to || st.pods[n] == nil {
			continue
		}
		if s := st.statuses[n]; s == nil || !s.RedisUp {
			// Down: Sentinel does not consider it either.
			continue
		}
		p.Replicas = append(p.Replicas, r.Reach.RedisAddr(rf, st.pods[n]))
	}
	if d := rf.Spec.Sentinel.FailoverTimeout; d != nil && d.Duration > 0 {
		p.Timeout = d.Duration + 15*time.Second
	}
	return p
}

// awaitSentinelMajority waits up to five seconds for a majority of the
// sentinels to name to.
func (r *RedisFailoverReconciler) awaitSentinelMajority(ctx context.Context, rf *haredisv1.RedisFailover, st *state, to string) {
	pw := sentinelAccess(rf, st)
	addrs := r.Reach.SentinelAddrs(rf, st.sentinels)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r.askSentinels(ctx, rf, st, addrs, pw).primary == to {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	log.FromContext(ctx).Info("the sentinels' majority does not name the new primary yet", "primary", to)
}

// endSwitchover records the outcome and resets targetPrimary to the primary
// in force.
func (r *RedisFailoverReconciler) endSwitchover(ctx context.Context, rf *haredisv1.RedisFailover, reason, result, msg string, heldMS int64) (ctrl.Result, error) {
	now := metav1.Now()
	ls := rf.Status.LastSwitchover
	if ls == nil || ls.Result != haredisv1.SwitchoverInProgress {
		ls = &haredisv1.SwitchoverStatus{From: rf.Status.CurrentPrimary, To: rf.Status.TargetPrimary, Reason: reason, StartTime: &now}
	}
	ls.Result, ls.Message, ls.EndTime, ls.WritesHeldMilliseconds = result, msg, &now, heldMS
	primary, count, last := rf.Status.CurrentPrimary, rf.Status.FailoverCount, rf.Status.LastFailoverTime
	if err := r.updateStatus(ctx, rf, func(rf *haredisv1.RedisFailover) {
		rf.Status.LastSwitchover = ls
		rf.Status.CurrentPrimary, rf.Status.TargetPrimary = primary, primary
		rf.Status.FailoverCount, rf.Status.LastFailoverTime = count, last
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot record the end of the switchover: %w", err)
	}
	started := time.Time{}
	if ls.StartTime != nil {
		started = ls.StartTime.Time
	}
	held := heldMS
	if result != haredisv1.SwitchoverSucceeded {
		held = 0
	}
	observeSwitchover(rf.Namespace, rf.Name, ls.Reason, result, started, held)
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// switchoverFailedRecently tells the rolling update to wait before trying
// again.
func switchoverFailedRecently(rf *haredisv1.RedisFailover) bool {
	ls := rf.Status.LastSwitchover
	return ls != nil && ls.Result == haredisv1.SwitchoverFailed && ls.EndTime != nil && time.Since(ls.EndTime.Time) < switchoverRetryAfter
}

// updateStatus writes mutate's changes to the status, on a fresh copy when
// another writer (a user asking for a switchover) came in between: the
// outcome of a switchover must not be lost to a conflict.
func (r *RedisFailoverReconciler) updateStatus(ctx context.Context, rf *haredisv1.RedisFailover, mutate func(*haredisv1.RedisFailover)) error {
	fresh := rf.DeepCopy()
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := r.Get(ctx, client.ObjectKeyFromObject(rf), fresh); err != nil {
				return err
			}
		}
		first = false
		mutate(fresh)
		return r.Status().Update(ctx, fresh)
	})
	if err == nil {
		fresh.DeepCopyInto(rf)
	}
	return err
}
