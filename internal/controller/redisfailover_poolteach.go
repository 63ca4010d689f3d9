package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/sentinelrun"
	"github.com/haredis/haredis/internal/specs"
)

// A pool's sentinels learn a RedisFailover's replicas only from its running
// primary: SENTINEL MONITOR names the primary alone, and Sentinel has no
// command that teaches a running sentinel a replica. A dedicated sentinel
// starts with every instance in its file; a pool sentinel cannot. So when
// every instance restarts at once (the RedisFailover created again on its
// volumes, or a full restart while every pool sentinel was replaced) and
// the recorded primary waits for a failover to a replica that holds the
// data, the pool, which registered the master at that primary, has no
// replica to promote.
//
// teachPool then writes the master's whole section (every replica, every
// pool sentinel as a peer) into the pool's taught Secret, with a quorum
// above the pool's size. The pool restarts its sentinels that lack a
// replica, one at a time (SentinelPoolReconciler.teach); each starts with
// the section. No sentinel can fail over while only some of them know the
// replicas: the taught ones hold that quorum (setQuorum keeps it), and the
// others know no replica. Once every sentinel knows every replica, the key
// goes, the quorum falls to the majority, and they fail over as dedicated
// sentinels would.

// taughtQuorum is the quorum of a taught master: above any pool's size,
// so that no taught sentinel fails over before setQuorum lowers it.
const taughtQuorum = haredisv1.MaxPoolSentinels + 1

// mustTeach tells whether rf's pool must be taught rf's master: its
// recorded primary waits for a failover, and a sentinel of the pool that
// monitors the master knows fewer replicas than rf has.
func mustTeach(rf *haredisv1.RedisFailover, st *state) bool {
	if st.pool == nil || rf.PoolKey() != rf.Status.SentinelPool || len(st.instances) < 2 || rf.Spec.Hibernate || importing(rf) {
		return false
	}
	if ps := st.statuses[rf.Status.CurrentPrimary]; ps == nil || ps.Phase != instanceapi.PhaseWaiting {
		return false
	}
	return poolLearning(st)
}

// poolLearning: a sentinel of the pool in charge that monitors the master
// knows fewer replicas than there are.
func poolLearning(st *state) bool {
	if st.pool == nil {
		return false
	}
	for _, a := range st.view.answers {
		if a.Answered() && !a.Unknown && a.Replicas < len(st.instances)-1 {
			return true
		}
	}
	return false
}

// poolTaught tells whether the pool in charge holds rf's master in its
// taught Secret; false when that cannot be read (setQuorum then lowers a
// taught quorum: the other sentinels know fewer replicas, never others).
func (r *RedisFailoverReconciler) poolTaught(ctx context.Context, st *state) bool {
	if st.pool == nil {
		return false
	}
	var sec corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: st.pool.Namespace, Name: st.pool.TaughtSecretName()}, &sec); err != nil {
		if !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Info("cannot read the pool's taught masters", "error", err.Error())
		}
		return false
	}
	_, ok := sec.Data[st.masterName]
	return ok
}

// poolKnowing counts the sentinels in charge that monitor the master and
// know every replica.
func poolKnowing(st *state) int {
	n := 0
	for _, a := range st.view.answers {
		if a.Answered() && !a.Unknown && a.Replicas >= len(st.instances)-1 {
			n++
		}
	}
	return n
}

// taughtSection is rf's master as a pool sentinel is taught it: at the
// recorded primary, with every other instance as a replica and every pool
// sentinel as a peer, and a quorum no set of them reaches.
func (r *RedisFailoverReconciler) taughtSection(rf *haredisv1.RedisFailover, st *state) (string, error) {
	t := sentinelrun.Taught{Master: r.monitored(rf, st, st.masterName, rf.Status.CurrentPrimary, taughtQuorum)}
	for _, n := range st.instances {
		if n == rf.Status.CurrentPrimary {
			continue
		}
		host, port := r.Reach.InstanceAddr(rf, n)
		t.KnownReplicas = append(t.KnownReplicas, sentinelrun.Addr{Host: host, Port: port})
	}
	for i := 1; i <= int(st.pool.Spec.Replicas); i++ {
		pod := st.pool.SentinelName(i)
		host := specs.PoolSentinelHost(st.pool, pod)
		t.KnownSentinels = append(t.KnownSentinels, sentinelrun.Peer{Addr: sentinelrun.Addr{Host: host, Port: specs.SentinelPort}, RunID: sentinelrun.PoolSentinelID(host, pod)})
	}
	return sentinelrun.RenderTaught(t)
}

// teachPool keeps rf's key of the pool's taught Secret: the taught
// section while mustTeach, none otherwise. The pool's reconcile, which
// the Secret's change wakes, restarts the sentinels; the chain goes on.
func (r *RedisFailoverReconciler) teachPool(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if st.pool == nil || st.statuses[rf.Status.CurrentPrimary] == nil {
		// Without word from the primary's manager nothing changes.
		return ctrl.Result{}, nil
	}
	want := ""
	if mustTeach(rf, st) {
		section, err := r.taughtSection(rf, st)
		if err != nil {
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot teach SentinelPool %s the master: %v", rf.Status.SentinelPool, err))
			return ctrl.Result{}, nil
		}
		want = section
	}
	var sec corev1.Secret
	key := types.NamespacedName{Namespace: st.pool.Namespace, Name: st.pool.TaughtSecretName()}
	if err := r.Get(ctx, key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			if want != "" {
				log.FromContext(ctx).Info("the pool has no Secret of taught masters yet; it creates it", "pool", rf.Status.SentinelPool, "secret", key.Name)
			}
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("cannot get Secret %s: %w", key, err)
	}
	have, ok := sec.Data[st.masterName]
	if string(have) == want && ok == (want != "") {
		return ctrl.Result{}, nil
	}
	if want == "" {
		delete(sec.Data, st.masterName)
	} else {
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		sec.Data[st.masterName] = []byte(want)
	}
	if err := r.Update(ctx, &sec); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot update Secret %s: %w", key, err)
	}
	if want == "" {
		log.FromContext(ctx).Info("the pool no longer needs to be taught the master", "pool", rf.Status.SentinelPool, "master", st.masterName)
		return ctrl.Result{}, nil
	}
	log.FromContext(ctx).Info("teaching the pool the master", "pool", rf.Status.SentinelPool, "master", st.masterName, "primary", rf.Status.CurrentPrimary)
	if !ok {
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventSentinelPoolTaught, "Teach",
			"the primary %s waits for a failover, and sentinels of SentinelPool %s do not know every replica (they learn replicas only from a running primary): they restart one at a time knowing every instance, and fail over once all of them do", rf.Status.CurrentPrimary, rf.Status.SentinelPool)
	}
	return ctrl.Result{}, nil
}
