package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/sentinelrun"
	"github.com/haredis/haredis/internal/specs"
)

// teach keeps the pool's taught Secret (the masters the RedisFailover
// reconciler teaches the pool, see teachPool): it drops the masters of
// RedisFailovers that no longer use the pool, and, while every sentinel
// runs and is ready (settled), restarts one sentinel that started before
// a master was taught and knows fewer of its replicas than the section
// names. The restarted sentinel starts with the section.
func (r *SentinelPoolReconciler) teach(ctx context.Context, sp *haredisv1.SentinelPool, pods []corev1.Pod, settled bool, acc sentinel.Access) error {
	var sec corev1.Secret
	key := types.NamespacedName{Namespace: sp.Namespace, Name: sp.TaughtSecretName()}
	if err := r.Get(ctx, key, &sec); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot get Secret %s: %w", key.Name, err)
		}
		if err := r.Create(ctx, specs.PoolTaughtSecret(sp)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot create Secret %s: %w", key.Name, err)
		}
		return nil
	}
	pool := sp.Namespace + "/" + sp.Name
	dropped := false
	for m := range sec.Data {
		if r.orphan(ctx, m, pool) {
			delete(sec.Data, m)
			dropped = true
		}
	}
	if dropped {
		if err := r.Update(ctx, &sec); err != nil {
			return fmt.Errorf("cannot drop the masters of RedisFailovers gone from Secret %s: %w", key.Name, err)
		}
		log.FromContext(ctx).Info("dropped taught masters of RedisFailovers that no longer use the pool")
	}
	if !settled || len(sec.Data) == 0 {
		return nil
	}
	taughtAt, err := time.Parse(time.RFC3339Nano, sec.Annotations[haredisv1.AnnotationTaughtAt])
	if err != nil {
		return nil
	}
	for _, p := range pods {
		if !p.CreationTimestamp.Time.Before(taughtAt) {
			continue
		}
		addrs := r.Reach.SentinelAddrs(nil, []corev1.Pod{p})
		if len(addrs) == 0 {
			continue
		}
		for _, m := range slices.Sorted(maps.Keys(sec.Data)) {
			want := taughtReplicas(string(sec.Data[m]))
			a := sentinel.AskMaster(ctx, addrs, acc, m)[0]
			if !a.Answered() || (!a.Unknown && a.Replicas >= want) {
				continue
			}
			if err := r.Delete(ctx, &p); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("cannot restart pool sentinel %s: %w", p.Name, err)
			}
			log.FromContext(ctx).Info("restarted a pool sentinel to teach it a master", "pod", p.Name, "master", m, "replicasKnown", a.Replicas, "replicasTaught", want)
			r.event(sp, corev1.EventTypeNormal, haredisv1.EventPoolSentinelRestarted, "Teach",
				"restarted %s: it knew %d of the %d replicas of %s, whose primary waits for a failover; it starts knowing every one", p.Name, a.Replicas, want, m)
			return nil
		}
	}
	return nil
}

// taughtReplicas is how many replicas a taught section names.
func taughtReplicas(section string) int {
	_, lines, err := sentinelrun.ParseTaught(section)
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "sentinel known-replica ") {
			n++
		}
	}
	return n
}
