package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// finalize runs when the RedisFailover is being deleted. A SentinelPool's
// sentinels stop monitoring it (SENTINEL REMOVE). Owned objects go
// with it through their owner references; PVCs have none (safety rule 6),
// so they are deleted here, and only when spec.redis.storage.
// keepAfterDeletion is false.
func (r *RedisFailoverReconciler) finalize(ctx context.Context, rf *haredisv1.RedisFailover) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(rf, haredisv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	logger := log.FromContext(ctx)
	if err := r.leavePool(ctx, rf); err != nil {
		return ctrl.Result{}, err
	}
	if rf.KeepVolumes() {
		logger.Info("keeping the volumes", "reason", "spec.redis.storage.keepAfterDeletion is true")
	} else {
		var pvcs corev1.PersistentVolumeClaimList
		if err := r.List(ctx, &pvcs, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentRedis))); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot list PVCs: %w", err)
		}
		for i := range pvcs.Items {
			pvc := &pvcs.Items[i]
			if serialOf(rf, pvc.Name) == 0 || pvc.Labels[haredisv1.LabelRedisInstance] != pvc.Name {
				continue
			}
			if err := r.Delete(ctx, pvc); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("cannot delete PVC %s: %w", pvc.Name, err)
			}
			logger.Info("deleted PVC", "pvc", pvc.Name, "reason", "spec.redis.storage.keepAfterDeletion is false")
		}
	}
	controllerutil.RemoveFinalizer(rf, haredisv1.Finalizer)
	if err := r.Update(ctx, rf); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot remove the finalizer: %w", err)
	}
	r.forgetLabels(rf.UID)
	return ctrl.Result{}, nil
}
