package controller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// hibernatePoll is how often a hibernating RedisFailover is looked at while
// its pods stop.
const hibernatePoll = 2 * time.Second

// hibernate removes every pod of a RedisFailover whose spec.hibernate is
// true and keeps its volumes, and ends the chain there; without it the
// chain goes on and the next steps create the pods again (waking). The
// order keeps the data: the proxies go first (clients get a refused
// connection, not a half-served one), then the sentinels, and the
// instances only once no sentinel runs, so that no sentinel sees the
// primary go and promotes a replica that stops a moment later with less
// data. Each pod stops gracefully: its instance manager shuts redis-server
// down, which writes the data set to the volume. On waking the instances
// boot as after any restart of all pods: the one with the newest data set
// becomes the primary (the boot decision).
func (r *RedisFailoverReconciler) hibernate(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if !rf.Spec.Hibernate {
		return r.wake(ctx, rf)
	}
	key := client.ObjectKeyFromObject(rf)
	if run := r.switchovers.get(key); run != nil && !run.finished() {
		log.FromContext(ctx).Info("hibernation waits for the switchover under way")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	r.watchers.stop(key)
	proxies, err := r.stopProxies(ctx, rf)
	if err != nil {
		return ctrl.Result{}, err
	}
	sentinels, err := r.deletePods(ctx, rf, specs.ComponentSentinel)
	if err != nil {
		return ctrl.Result{}, err
	}
	if sentinels == 0 && st.pool != nil {
		// A pool's sentinels keep running: they stop watching this
		// RedisFailover instead, and get it back after the wake
		// (registerOnPool).
		sentinels = r.poolLetGo(ctx, rf, st)
	}
	instances := len(st.pods) + len(st.leaving)
	if sentinels == 0 {
		if instances, err = r.deletePods(ctx, rf, specs.ComponentRedis); err != nil {
			return ctrl.Result{}, err
		}
	}
	running := proxies + sentinels + instances
	before := rf.Status.DeepCopy()
	cond := metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: rf.Generation}
	if running > 0 {
		rf.Status.Phase = haredisv1.PhaseHibernating
		cond.Reason = haredisv1.ReasonHibernating
		cond.Message = fmt.Sprintf("spec.hibernate is true: stopping %d proxies, %d sentinels, then %d instances (gracefully, so each writes its data set to its volume)", proxies, sentinels, instances)
	} else {
		rf.Status.Phase = haredisv1.PhaseHibernated
		cond.Reason = haredisv1.ReasonHibernated
		cond.Message = fmt.Sprintf("hibernated: no pod runs; the %d volumes, the Services and the Secrets are kept. Set spec.hibernate to false (kubectl haredis hibernate off %s) to wake it with its data", len(st.pvcs), rf.Name)
	}
	meta.SetStatusCondition(&rf.Status.Conditions, cond)
	rf.Status.ObservedGeneration = rf.Generation
	for i := range rf.Status.Instances {
		is := &rf.Status.Instances[i]
		is.Ready, is.Role, is.PodIP, is.LagBytes = false, haredisv1.RoleUnknown, "", 0
	}
	if !equality.Semantic.DeepEqual(before, &rf.Status) {
		if before.Phase != rf.Status.Phase {
			switch rf.Status.Phase {
			case haredisv1.PhaseHibernating:
				r.event(rf, corev1.EventTypeNormal, haredisv1.EventHibernating, "Hibernate", "spec.hibernate is true: stopping the proxies, the sentinels, then the instances; the volumes are kept")
			case haredisv1.PhaseHibernated:
				r.event(rf, corev1.EventTypeNormal, haredisv1.EventHibernated, "Hibernate", "hibernated: no pod runs, the volumes are kept")
			}
		}
		if err := r.Status().Update(ctx, rf); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot update status: %w", err)
		}
	}
	if running > 0 {
		return ctrl.Result{RequeueAfter: hibernatePoll}, nil
	}
	return ctrl.Result{RequeueAfter: waitForUser}, nil
}

// wake records that a hibernated RedisFailover wakes: the chain goes on
// and creates its pods; Creating lasts until everything is ready.
func (r *RedisFailoverReconciler) wake(ctx context.Context, rf *haredisv1.RedisFailover) (ctrl.Result, error) {
	if rf.Status.Phase != haredisv1.PhaseHibernated && rf.Status.Phase != haredisv1.PhaseHibernating {
		return ctrl.Result{}, nil
	}
	rf.Status.Phase = haredisv1.PhaseCreating
	meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: haredisv1.ReasonWaking, ObservedGeneration: rf.Generation,
		Message: "spec.hibernate is false: the pods are created again on their volumes, and the instance with the newest data set becomes the primary"})
	if err := r.Status().Update(ctx, rf); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot update status: %w", err)
	}
	log.FromContext(ctx).Info("waking from hibernation")
	r.event(rf, corev1.EventTypeNormal, haredisv1.EventWaking, "Wake", "spec.hibernate is false: creating the pods again on their volumes")
	return ctrl.Result{}, nil
}

// stopProxies scales the proxy Deployment to zero and says how many proxy
// pods still exist.
func (r *RedisFailoverReconciler) stopProxies(ctx context.Context, rf *haredisv1.RedisFailover) (int, error) {
	d := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: rf.Namespace, Name: specs.ProxyName(rf)}, d)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return 0, fmt.Errorf("cannot get the proxy Deployment: %w", err)
	case d.Spec.Replicas == nil || *d.Spec.Replicas != 0:
		patch := client.MergeFrom(d.DeepCopy())
		zero := int32(0)
		d.Spec.Replicas = &zero
		if err := r.Patch(ctx, d, patch); err != nil {
			return 0, fmt.Errorf("cannot scale the proxies to zero: %w", err)
		}
		log.FromContext(ctx).Info("hibernating: scaled the proxies to zero")
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentProxy))); err != nil {
		return 0, fmt.Errorf("cannot list the proxy pods: %w", err)
	}
	return len(pods.Items), nil
}

// deletePods deletes the pods of one component gracefully and says how
// many still exist (terminating ones included).
func (r *RedisFailoverReconciler) deletePods(ctx context.Context, rf *haredisv1.RedisFailover, component string) (int, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, component))); err != nil {
		return 0, fmt.Errorf("cannot list the %s pods: %w", component, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := r.Delete(ctx, p, client.Preconditions{UID: &p.UID}); err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("cannot delete pod %s: %w", p.Name, err)
		}
		log.FromContext(ctx).Info("hibernating: deleted pod", "pod", p.Name, "component", component)
	}
	return len(pods.Items), nil
}
