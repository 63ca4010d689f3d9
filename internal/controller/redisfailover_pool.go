package controller

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// A RedisFailover's sentinels are either its own (dedicated) or a
// SentinelPool's. status.sentinelPool says which set is in charge: only
// that set may fail the RedisFailover over. spec.sentinel.poolRef says
// which set the user wants. While they differ the other set joins: it
// watches with a quorum above its count (it can never fail over), and
// once it monitors the master, names the primary the set in charge
// names, knows every replica and peer, and neither set is failing over,
// the set in charge lets go (SENTINEL REMOVE) and the joining set gets a
// majority quorum. At no moment can both fail over, and at every moment
// one set watches. A pool monitors a RedisFailover under
// PoolMasterName, so that the two sets never take each other for peers.

// resolvePool finds the SentinelPool in charge of rf (st.pool) and the one
// it moves to (st.joinPool), with the pool's admin credentials, and says
// which set of sentinels the next steps talk to. A new RedisFailover whose
// pool is missing or does not admit it waits (Ready False, the reason
// naming the fix); a running one keeps the sentinels it has and reports
// why it does not move.
func (r *RedisFailoverReconciler) resolvePool(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	st.sentinelCount, st.masterName = int(rf.Spec.Sentinel.Replicas), rf.MasterName()
	want := rf.PoolKey()
	if want == "" && !rf.OnPool() {
		return ctrl.Result{}, nil
	}
	if rf.OnPool() {
		pool, acc, err := r.poolAccess(ctx, rf.Status.SentinelPool)
		if err != nil {
			return ctrl.Result{}, err
		}
		if pool != nil && acc.Password == "" {
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		if pool == nil {
			// A pool is kept by its finalizer while in use: only a pool
			// deleted by force gets here. The pods of the RedisFailover
			// stay as they are; dedicated sentinels take over once
			// spec.sentinel.poolRef is removed (or names a pool that
			// exists).
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("status.sentinelPool: SentinelPool %s, whose sentinels are in charge of this RedisFailover, no longer exists; remove spec.sentinel.poolRef to move to dedicated sentinels", rf.Status.SentinelPool))
		} else {
			st.pool, st.poolAccess = pool, acc
			st.sentinelCount, st.masterName = int(pool.Spec.Replicas), rf.PoolMasterName()
		}
		if want != "" && want != rf.Status.SentinelPool {
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("spec.sentinel.poolRef: this RedisFailover is on SentinelPool %s; move it to dedicated sentinels first (remove spec.sentinel.poolRef), then to %s", rf.Status.SentinelPool, want))
		}
		return ctrl.Result{}, nil
	}
	// Dedicated sentinels in charge (or none yet), and a pool wanted.
	pool, acc, err := r.poolAccess(ctx, want)
	if err != nil {
		return ctrl.Result{}, err
	}
	reason, problem := "", ""
	switch {
	case pool == nil || !pool.DeletionTimestamp.IsZero():
		reason, problem = haredisv1.ReasonSentinelPoolMissing, fmt.Sprintf("spec.sentinel.poolRef: SentinelPool %s does not exist (or is being deleted); create it, or remove spec.sentinel.poolRef to get dedicated sentinels", want)
	case acc.Password == "":
		log.FromContext(ctx).V(1).Info("waiting for the SentinelPool's password", "pool", want)
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	case rf.AuthEnabled() && !rf.ACLUsersEnabled():
		reason, problem = haredisv1.ReasonSentinelPoolNeedsUsers, "spec.sentinel.poolRef: this RedisFailover was created by an earlier haredis, without Redis users, and a SentinelPool monitors each RedisFailover as its sentinel user; keep dedicated sentinels (remove spec.sentinel.poolRef), or move the data to a new RedisFailover with a live import (docs/import.md)"
	default:
		ok, err := r.poolAdmits(ctx, pool, rf.Namespace)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !ok {
			reason, problem = haredisv1.ReasonSentinelPoolNotAdmitted, fmt.Sprintf("spec.sentinel.poolRef: SentinelPool %s does not admit namespace %s (its spec.namespaceSelector); label the namespace so that the selector matches, or use another pool", want, rf.Namespace)
		}
	}
	running, err := r.podsRunning(ctx, rf)
	if err != nil {
		return ctrl.Result{}, err
	}
	if problem != "" {
		if !running {
			return r.blocked(ctx, rf, reason, problem)
		}
		st.sentinelErrors = append(st.sentinelErrors, problem)
		return ctrl.Result{}, nil
	}
	if !running {
		// Nothing runs yet: the pool is in charge from the start.
		rf.Status.SentinelPool = want
		rf.Status.MasterName = rf.PoolMasterName()
		rf.Status.Endpoints = specs.Endpoints(rf)
		if err := r.Status().Update(ctx, rf); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot record the SentinelPool in charge: %w", err)
		}
		log.FromContext(ctx).Info("the SentinelPool is in charge from the start", "pool", want)
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	st.joinPool, st.joinAccess = pool, acc
	return ctrl.Result{}, nil
}

// poolAccess reads the SentinelPool key (NAMESPACE/NAME) and its admin
// password (empty while the pool has none yet); nil when it does not
// exist.
func (r *RedisFailoverReconciler) poolAccess(ctx context.Context, key string) (*haredisv1.SentinelPool, sentinel.Access, error) {
	ns, name, _ := strings.Cut(key, "/")
	pool := &haredisv1.SentinelPool{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, sentinel.Access{}, nil
		}
		return nil, sentinel.Access{}, fmt.Errorf("cannot get SentinelPool %s: %w", key, err)
	}
	var sec corev1.Secret
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: pool.AuthSecretName()}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			// A pool created a moment ago: its password comes next.
			return pool, sentinel.Access{}, nil
		}
		return nil, sentinel.Access{}, fmt.Errorf("cannot get the password of SentinelPool %s: %w", key, err)
	}
	return pool, sentinel.Access{User: sentinel.PoolAdminUser, Password: string(sec.Data[specs.PoolPasswordKey])}, nil
}

// poolAdmits tells whether pool admits RedisFailovers of namespace ns.
func (r *RedisFailoverReconciler) poolAdmits(ctx context.Context, pool *haredisv1.SentinelPool, ns string) (bool, error) {
	if ns == pool.Namespace {
		return true, nil
	}
	if pool.Spec.NamespaceSelector == nil {
		return false, nil
	}
	var n corev1.Namespace
	if err := r.APIReader.Get(ctx, types.NamespacedName{Name: ns}, &n); err != nil {
		return false, fmt.Errorf("cannot read namespace %s for SentinelPool %s/%s's selector: %w", ns, pool.Namespace, pool.Name, err)
	}
	ok, err := pool.Admits(ns, n.Labels)
	if err != nil {
		return false, err
	}
	return ok, nil
}

// poolPods are the sentinel pods of pool.
func (r *RedisFailoverReconciler) poolPods(ctx context.Context, pool *haredisv1.SentinelPool) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(pool.Namespace), client.MatchingLabels(specs.PoolSelector(pool))); err != nil {
		return nil, fmt.Errorf("cannot list the sentinel pods of SentinelPool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	return pods.Items, nil
}

// registerOnPool makes the pool's sentinels monitor a RedisFailover that no
// majority of the pool knows (one just created on the pool, created again
// on its volumes, woken from hibernation, or after every pool sentinel was
// replaced at once): with the recorded primary, on every sentinel that
// does not know it, as long as those that do name that one. A sentinel
// that lost the master while a majority knows it is repaired by
// tendSentinels, from that majority.
func (r *RedisFailoverReconciler) registerOnPool(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if st.pool == nil || len(st.view.lost) == 0 || st.view.primary != "" {
		return ctrl.Result{}, nil
	}
	host, port := r.Reach.InstanceAddr(rf, rf.Status.CurrentPrimary)
	recorded := net.JoinHostPort(host, strconv.Itoa(port))
	for _, a := range st.view.answers {
		if a.Addr != "" && a.Addr != recorded {
			return ctrl.Result{}, nil // one names another primary: the majority decides
		}
	}
	// The recorded primary, as a dedicated sentinel starts with it when
	// no peer knows one, also when it does not run: an instance that
	// restarted as the recorded primary while a replica holds data waits
	// for the sentinels to fail over to that replica.
	r.monitor(ctx, rf, st, st.view.lost, rf.Status.CurrentPrimary, quorum.Majority(st.sentinelCount))
	return ctrl.Result{}, nil
}

// monitor makes each sentinel of addrs monitor rf's master, as the set in
// charge knows it, at primary, with quorum q.
func (r *RedisFailoverReconciler) monitor(ctx context.Context, rf *haredisv1.RedisFailover, st *state, addrs []string, primary string, q int) {
	m := r.monitored(rf, st, st.masterName, primary, q)
	for _, a := range addrs {
		if err := sentinel.Monitor(ctx, a, sentinelAccess(rf, st), m); err != nil {
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot set sentinel %s to monitor %s: %v", a, primary, err))
			continue
		}
		log.FromContext(ctx).Info("a sentinel monitors the master", "sentinel", a, "master", st.masterName, "primary", primary, "quorum", q)
	}
}

// moveSentinels moves rf between its dedicated sentinels and a pool (see
// the top of this file): it registers rf on a joining pool with a quorum
// that cannot be reached, and hands over once the joining set is
// complete and agrees with the set in charge.
func (r *RedisFailoverReconciler) moveSentinels(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	joiningPool := st.joinPool != nil
	leaving := rf.OnPool() && rf.PoolKey() == "" && st.pool != nil
	if !joiningPool && !leaving {
		return ctrl.Result{}, nil
	}
	name, acc, count := rf.MasterName(), sentinel.Access{TLS: st.tls}, int(rf.Spec.Sentinel.Replicas)
	if rf.AuthEnabled() {
		acc.Password = st.password
	}
	if joiningPool {
		name, acc, count = rf.PoolMasterName(), st.joinAccess, int(st.joinPool.Spec.Replicas)
	}
	addrs := r.Reach.SentinelAddrs(rf, st.joining)
	answers := sentinel.AskMaster(ctx, addrs, acc, name)
	hold := count + 1
	if fix := joinersToSet(st, answers); len(fix) > 0 {
		// A joining sentinel that does not know the master (a new pool
		// sentinel), or names another primary (the set in charge failed
		// over meanwhile: the joining set, under another master name,
		// hears nothing of it), is set to watch the primary of the set in
		// charge, still unable to fail over.
		m := r.monitored(rf, st, name, st.view.primary, hold)
		for _, a := range fix {
			err := sentinel.Remove(ctx, a, acc, name)
			if err == nil {
				err = sentinel.Monitor(ctx, a, acc, m)
			}
			if err != nil {
				st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot set joining sentinel %s to watch %s: %v", a, st.view.primary, err))
				continue
			}
			log.FromContext(ctx).Info("a joining sentinel watches the primary, without the right to fail over", "sentinel", a, "master", name, "primary", st.view.primary, "quorum", hold)
		}
		return ctrl.Result{RequeueAfter: fastRequeue * 4}, nil
	}
	if reason := handOverBlocked(st, answers, count, len(st.instances)); reason != "" {
		log.FromContext(ctx).V(1).Info("the joining sentinels do not take over yet", "reason", reason)
		return ctrl.Result{}, nil
	}
	// Hand over: the set in charge lets go, then the joining set may fail
	// over.
	for _, a := range r.Reach.SentinelAddrs(rf, st.sentinels) {
		if err := sentinel.Remove(ctx, a, sentinelAccess(rf, st), st.masterName); err != nil {
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot remove the master from sentinel %s while moving: %v", a, err))
			return ctrl.Result{}, nil
		}
	}
	for _, a := range addrs {
		if err := sentinel.SetQuorum(ctx, a, acc, name, quorum.Majority(count)); err != nil {
			// The next reconcile sets it (setQuorum) once this set is in
			// charge.
			log.FromContext(ctx).Info("cannot lower a joining sentinel's quorum yet", "sentinel", a, "error", err.Error())
		}
	}
	from, to := "dedicated sentinels", "SentinelPool "+rf.PoolKey()
	if leaving {
		from, to = "SentinelPool "+rf.Status.SentinelPool, "dedicated sentinels"
		rf.Status.SentinelPool = ""
	} else {
		rf.Status.SentinelPool = rf.PoolKey()
	}
	rf.Status.MasterName = rf.SentinelMasterName()
	rf.Status.Endpoints = specs.Endpoints(rf)
	if err := r.Status().Update(ctx, rf); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot record the sentinels in charge: %w", err)
	}
	reason := haredisv1.EventSentinelPoolJoined
	if leaving {
		reason = haredisv1.EventSentinelPoolLeft
	}
	log.FromContext(ctx).Info("moved to other sentinels", "from", from, "to", to, "masterName", rf.Status.MasterName)
	r.event(rf, corev1.EventTypeNormal, reason, "Move", "%s took over from %s without a failover; Sentinel clients now use %s", to, from, rf.Status.Endpoints.SentinelURL)
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// handOverBlocked says why the joining sentinels (answers, count
// configured) cannot take over from the set in charge yet; "" when they
// can: every one of them monitors the master and names the primary the
// set in charge names, knows every replica and its peers, and neither set
// is failing over.
func handOverBlocked(st *state, answers []sentinel.Master, count, instances int) string {
	switch {
	case st.view.primary == "" || st.view.answered < st.view.asked:
		return "the sentinels in charge do not all answer with one primary"
	case len(answers) < count:
		return fmt.Sprintf("%d of %d joining sentinels run", len(answers), count)
	}
	for _, a := range st.view.answers {
		if a.InFailover {
			return "the sentinels in charge are failing over"
		}
	}
	for _, a := range answers {
		switch {
		case !a.Answered() || a.Unknown:
			return "sentinel " + a.Sentinel + " does not monitor the master yet"
		case a.Addr != st.view.addr:
			return "sentinel " + a.Sentinel + " names another primary"
		case a.InFailover:
			return "sentinel " + a.Sentinel + " is failing over"
		case a.Replicas < instances-1 || a.Peers < count-1:
			return "sentinel " + a.Sentinel + " does not know every replica and peer yet"
		}
	}
	return ""
}

// leavePool removes a deleted RedisFailover's master from every sentinel
// of the pool in charge of it (and of the one it was moving to).
func (r *RedisFailoverReconciler) leavePool(ctx context.Context, rf *haredisv1.RedisFailover) error {
	for _, key := range []string{rf.Status.SentinelPool, rf.PoolKey()} {
		if key == "" {
			continue
		}
		pool, acc, err := r.poolAccess(ctx, key)
		if err != nil || pool == nil {
			return err
		}
		pods, err := r.poolPods(ctx, pool)
		if err != nil {
			return err
		}
		for _, a := range r.Reach.SentinelAddrs(rf, pods) {
			if err := sentinel.Remove(ctx, a, acc, rf.PoolMasterName()); err != nil {
				// A sentinel that does not answer is not waited for: the
				// pool removes masters nobody uses (removeOrphans).
				log.FromContext(ctx).Info("cannot remove the master from a pool sentinel; the pool removes it later", "pool", key, "sentinel", a, "error", err.Error())
			}
		}
		log.FromContext(ctx).Info("removed the master from the pool's sentinels", "pool", key, "master", rf.PoolMasterName())
	}
	return nil
}

// joinersToSet are the joining sentinels (answers) to set to watch the
// primary of the set in charge: those that do not know the master and
// those that name another primary. None while the set in charge has no
// majority primary or is failing over: the joining set then waits.
func joinersToSet(st *state, answers []sentinel.Master) []string {
	if st.view.primary == "" || st.view.addr == "" {
		return nil
	}
	for _, a := range st.view.answers {
		if a.InFailover {
			return nil
		}
	}
	var out []string
	for _, a := range answers {
		if a.Unknown || (a.Addr != "" && a.Addr != st.view.addr && !a.InFailover) {
			out = append(out, a.Sentinel)
		}
	}
	return out
}

// poolLetGo removes rf's master from every sentinel of the pool in charge
// and returns how many still monitor it (one that did not answer counts):
// a hibernating RedisFailover stops its instances only once no sentinel
// can promote a replica that stops a moment later.
func (r *RedisFailoverReconciler) poolLetGo(ctx context.Context, rf *haredisv1.RedisFailover, st *state) int {
	still := 0
	addrs := r.Reach.SentinelAddrs(rf, st.sentinels)
	if len(addrs) < len(st.sentinels) {
		still += len(st.sentinels) - len(addrs)
	}
	for _, a := range addrs {
		if err := sentinel.Remove(ctx, a, st.poolAccess, st.masterName); err != nil {
			log.FromContext(ctx).Info("cannot remove the master from a pool sentinel before hibernating", "sentinel", a, "error", err.Error())
			still++
		}
	}
	return still
}
