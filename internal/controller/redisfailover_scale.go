package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// scaleDown removes instances beyond spec.redis.replicas, one at a time:
// the highest-numbered replica goes, never the primary (nor a switchover's
// target). Its volume is kept (labelled haredis.dev/detached, no longer a
// member) or deleted, per spec.redis.storage.keepAfterDeletion. The
// durability settings for the smaller set are applied to every instance
// first, so the primary never refuses writes for want of a replica that is
// gone on purpose. The sentinels forget the removed replica afterwards
// (forgetStale).
func (r *RedisFailoverReconciler) scaleDown(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	for _, p := range st.leaving {
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := r.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("cannot delete pod %s: %w", p.Name, err)
		}
		logger.Info("deleted the pod of a removed instance", "pod", p.Name)
	}
	excess := len(st.instances) - int(rf.Spec.Redis.Replicas)
	if excess <= 0 {
		return ctrl.Result{}, nil
	}
	if rf.Status.TargetPrimary != "" && rf.Status.TargetPrimary != rf.Status.CurrentPrimary {
		return ctrl.Result{}, nil
	}
	want := desired(rf)
	for _, n := range st.instances {
		p := st.pods[n]
		if p == nil || p.DeletionTimestamp != nil {
			continue
		}
		if s := st.statuses[n]; s == nil || s.Durability != want.durability {
			logger.V(1).Info("scale down waits for the durability settings", "instance", n)
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
	}
	victim := ""
	for i := len(st.instances) - 1; i >= 0; i-- {
		n := st.instances[i]
		if n != rf.Status.CurrentPrimary && n != rf.Status.TargetPrimary {
			victim = n
			break
		}
	}
	if victim == "" {
		return ctrl.Result{}, nil
	}
	if pvc := st.pvcs[victim]; pvc != nil {
		if rf.KeepVolumes() {
			patch := client.MergeFrom(pvc.DeepCopy())
			pvc.Labels[haredisv1.LabelDetached] = "true"
			if err := r.Patch(ctx, pvc, patch); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot detach volume %s: %w", victim, err)
			}
		} else if err := r.Delete(ctx, pvc); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("cannot delete volume %s: %w", victim, err)
		}
	}
	if p := st.pods[victim]; p != nil && p.DeletionTimestamp == nil {
		if err := r.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("cannot delete pod %s: %w", victim, err)
		}
	}
	volume := "its volume " + victim + " is deleted (spec.redis.storage.keepAfterDeletion is false)"
	if rf.KeepVolumes() {
		volume = fmt.Sprintf("its volume %s is kept with the label %s=true (spec.redis.storage.keepAfterDeletion); delete it with `kubectl delete pvc -n %s %s` when its data is no longer needed", victim, haredisv1.LabelDetached, rf.Namespace, victim)
	}
	logger.Info("scaled down", "removed", victim, "instances", len(st.instances)-1, "keepVolume", rf.KeepVolumes())
	r.eventOn(rf, st.pods[victim], corev1.EventTypeNormal, haredisv1.EventScaledDown, "ScaleDown", "removed replica %s; %s", victim, volume)
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// progressMessage summarises what the planned operations are doing, for the
// Progressing condition; "" when nothing is under way.
func progressMessage(rf *haredisv1.RedisFailover, st *state) (reason, msg string) {
	want := int(rf.Spec.Redis.Replicas)
	switch {
	case rf.Status.TargetPrimary != "" && rf.Status.TargetPrimary != rf.Status.CurrentPrimary:
		return haredisv1.ReasonSwitchover, fmt.Sprintf("switching over from %s to %s", rf.Status.CurrentPrimary, rf.Status.TargetPrimary)
	case len(st.instances) > want || len(st.leaving) > 0:
		return haredisv1.ReasonScalingDown, fmt.Sprintf("removing replicas: %d instances, %d wanted", len(st.instances), want)
	case st.update.kind != updateNone:
		return haredisv1.ReasonRollingUpdate, st.update.message
	}
	return "", ""
}
