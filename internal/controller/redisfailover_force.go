package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/sentinel"
)

// forcePrimary carries out a human's choice of primary (the annotation
// haredis.dev/force-primary), for when the boot decisions cannot tell which
// instance holds the newest data and say so in the status. It acts only
// while no primary takes writes: the choice goes to every instance manager
// (the chosen one may then boot as primary or be promoted although it may
// not hold the newest data; the others follow it whatever they hold), and
// when the chosen one is a replica the sentinels are asked to promote it.
// The annotation is removed once the chosen instance is primary, or at
// once, with a warning, when a primary takes writes already.
func (r *RedisFailoverReconciler) forcePrimary(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	choice := rf.Annotations[haredisv1.AnnotationForcePrimary]
	if choice == "" {
		return ctrl.Result{}, nil
	}
	ok, _, _ := writesBlocked(rf, st)
	switch {
	case !slices.Contains(st.instances, choice):
		return r.endForce(ctx, rf, corev1.EventTypeWarning, haredisv1.EventForcePrimaryRefused,
			fmt.Sprintf("annotation %s: %s is not an instance of %s (instances: %s); nothing was changed", haredisv1.AnnotationForcePrimary, choice, rf.Name, strings.Join(st.instances, ", ")))
	case ok && rf.Status.CurrentPrimary == choice:
		return r.endForce(ctx, rf, corev1.EventTypeNormal, haredisv1.EventForcedPrimary,
			fmt.Sprintf("%s, chosen with %s, is primary and takes writes", choice, haredisv1.AnnotationForcePrimary))
	case ok:
		return r.endForce(ctx, rf, corev1.EventTypeWarning, haredisv1.EventForcePrimaryIgnored,
			fmt.Sprintf("annotation %s ignored: the primary %s takes writes; to move the primary to %s use a switchover (kubectl haredis promote %s %s)", haredisv1.AnnotationForcePrimary, rf.Status.CurrentPrimary, choice, rf.Name, choice))
	}
	for _, n := range st.instances {
		p := st.pods[n]
		if p == nil || r.Reach.InstanceURL(rf, p) == "" {
			continue
		}
		if err := r.instanceClient(rf, p, st).Force(ctx, choice); err != nil {
			log.FromContext(ctx).Info("cannot deliver the forced primary", "instance", n, "error", err.Error())
		}
	}
	if s := st.statuses[choice]; s != nil && s.Role == instanceapi.RoleReplica && s.Promotable && choice != st.view.primary {
		r.failoverTo(ctx, rf, st, choice)
	}
	return ctrl.Result{RequeueAfter: time.Second}, nil
}

// failoverTo asks one sentinel to fail over (SENTINEL FAILOVER): the
// chosen replica is the one Sentinel may promote.
func (r *RedisFailoverReconciler) failoverTo(ctx context.Context, rf *haredisv1.RedisFailover, st *state, choice string) {
	for _, a := range r.Reach.SentinelAddrs(rf, st.sentinels) {
		running, err := sentinel.Failover(ctx, a, sentinelAccess(rf, st), st.masterName)
		if running {
			return
		}
		if err == nil {
			log.FromContext(ctx).Info("asked the sentinels to promote the forced primary", "sentinel", a, "primary", choice)
			r.event(rf, corev1.EventTypeWarning, haredisv1.EventForcingPrimary, "Failover", "asked the sentinels to promote %s, chosen with %s", choice, haredisv1.AnnotationForcePrimary)
			return
		}
		log.FromContext(ctx).Info("a sentinel refused SENTINEL FAILOVER", "sentinel", a, "error", err.Error())
	}
}

func (r *RedisFailoverReconciler) endForce(ctx context.Context, rf *haredisv1.RedisFailover, eventType, reason, msg string) (ctrl.Result, error) {
	if err := r.removeAnnotation(ctx, rf, haredisv1.AnnotationForcePrimary); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).Info("ended a forced choice of primary", "reason", reason, "message", msg)
	r.event(rf, eventType, reason, "ForcePrimary", "%s", msg)
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}
