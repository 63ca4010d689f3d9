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

// teachGrace is how old a pool sentinel must be before it is restarted to
// learn a taught master: one that started with the section knows its
// replicas at once, so an older one that does not, did not start with it
// (it started before the master was taught, or its kubelet gave it an old
// copy of the Secret).
const teachGrace = 30 * time.Second

// teach keeps the pool's taught Secret (the masters the RedisFailover
// reconciler teaches the pool, see teachPool): it drops the masters of
// RedisFailovers that no longer use the pool, hibernate or are being
// deleted, and, while the pool is ready for it (poolReady), restarts one
// sentinel older than
// teachGrace that monitors a taught master and knows fewer of its
// replicas than the section names. The restarted sentinel starts with the
// section; the next one waits until it monitors every master again.
func (r *SentinelPoolReconciler) teach(ctx context.Context, sp *haredisv1.SentinelPool, pods []corev1.Pod, ready bool, acc sentinel.Access) error {
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
		if r.notTaught(ctx, m, pool) {
			delete(sec.Data, m)
			dropped = true
		}
	}
	if dropped {
		if err := r.Update(ctx, &sec); err != nil {
			return fmt.Errorf("cannot drop the masters of RedisFailovers gone, hibernating or leaving from Secret %s: %w", key.Name, err)
		}
		log.FromContext(ctx).Info("dropped taught masters of RedisFailovers that are gone, hibernate or no longer use the pool")
	}
	if !ready || len(sec.Data) == 0 {
		return nil
	}
	for _, p := range pods {
		if time.Since(p.CreationTimestamp.Time) < teachGrace {
			continue
		}
		addrs := r.Reach.SentinelAddrs(nil, []corev1.Pod{p})
		if len(addrs) == 0 {
			continue
		}
		for _, m := range slices.Sorted(maps.Keys(sec.Data)) {
			want := taughtReplicas(string(sec.Data[m]))
			a := sentinel.AskMaster(ctx, addrs, acc, m)[0]
			// One that does not monitor the master is registered by the
			// RedisFailover's reconcile (or was let go, by a hibernation).
			if !a.Answered() || a.Unknown || a.Replicas >= want {
				continue
			}
			if err := r.restartOne(ctx, sp, &p, fmt.Sprintf("it knew %d of the %d replicas of taught master %s", a.Replicas, want, m)); err != nil {
				return err
			}
			r.event(sp, corev1.EventTypeNormal, haredisv1.EventPoolSentinelRestarted, "Teach",
				"restarted %s: it knew %d of the %d replicas of %s, whose primary waits for a failover; it starts knowing every one", p.Name, a.Replicas, want, m)
			return nil
		}
	}
	return nil
}

// notTaught tells whether taught master m no longer belongs in the pool's
// Secret: its RedisFailover is gone, no longer uses the pool, hibernates
// (its master was let go) or is being deleted.
func (r *SentinelPoolReconciler) notTaught(ctx context.Context, m, pool string) bool {
	rf, known := r.ownerOf(ctx, m)
	switch {
	case !known:
		return false
	case rf == nil:
		return true
	}
	return (rf.PoolKey() != pool && rf.Status.SentinelPool != pool) || rf.Spec.Hibernate || !rf.DeletionTimestamp.IsZero()
}

// sameMasters tells whether every one of n pool sentinels answered with
// the same masters: a restarted one has been given every master again.
func sameMasters(masters map[string][]string, n int) bool {
	if len(masters) != n {
		return false
	}
	var first []string
	seen := false
	for _, names := range masters {
		names = slices.Sorted(slices.Values(names))
		if !seen {
			first, seen = names, true
			continue
		}
		if !slices.Equal(first, names) {
			return false
		}
	}
	return true
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
