package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// PoolObservePeriod is how often a SentinelPool's status is refreshed.
const PoolObservePeriod = 10 * time.Second

// SentinelPoolReconciler runs the sentinels of a SentinelPool (its
// Secret, Services, PodDisruptionBudget and one pod per sentinel), reports
// which RedisFailovers it serves and how healthy each master is, and
// removes from its sentinels the masters of RedisFailovers that no longer
// use it. Registering a RedisFailover on the pool is the RedisFailover
// reconciler's (registerOnPool, moveSentinels, repairSentinels).
type SentinelPoolReconciler struct {
	client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   specs.Options
	Reach     Reach
	// restarted is, per pool, the sentinel pod restartOne deleted last
	// (a restartedPod).
	restarted sync.Map
}

// SetupWithManager registers the controller; a RedisFailover that names a
// pool, or leaves one, triggers the pool's reconcile.
func (r *SentinelPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Reach == nil {
		r.Reach = PodReach{}
	}
	if r.APIReader == nil {
		r.APIReader = r.Client
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&haredisv1.SentinelPool{}).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&haredisv1.RedisFailover{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			rf, ok := o.(*haredisv1.RedisFailover)
			if !ok {
				return nil
			}
			var out []reconcile.Request
			for _, key := range []string{rf.PoolKey(), rf.Status.SentinelPool} {
				if ns, name, ok := strings.Cut(key, "/"); ok {
					out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
				}
			}
			return out
		})).
		Named("sentinelpool").
		Complete(r)
}

// Reconcile keeps the pool's objects, then observes its sentinels.
func (r *SentinelPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sp := &haredisv1.SentinelPool{}
	if err := r.Get(ctx, req.NamespacedName, sp); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("cannot get SentinelPool: %w", err)
	}
	users, err := r.users(ctx, sp)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !sp.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, sp, users)
	}
	if !controllerutil.ContainsFinalizer(sp, haredisv1.PoolFinalizer) {
		controllerutil.AddFinalizer(sp, haredisv1.PoolFinalizer)
		if err := r.Update(ctx, sp); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot add the finalizer: %w", err)
		}
		return ctrl.Result{}, nil
	}
	var clash haredisv1.RedisFailover
	if err := r.Get(ctx, req.NamespacedName, &clash); err == nil {
		return r.setStatus(ctx, sp, metav1.ConditionFalse, "NameTaken",
			fmt.Sprintf("metadata.name: RedisFailover %s in this namespace has the same name, and its dedicated sentinels' objects would clash with the pool's (%s, %s); give the SentinelPool another name", sp.Name, sp.SentinelName(1), sp.ServiceName()))
	} else if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("cannot check for a RedisFailover named like the pool: %w", err)
	}
	password, err := r.ensureSecret(ctx, sp)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureObjects(ctx, sp); err != nil {
		return ctrl.Result{}, err
	}
	pods, stale, settled, err := r.ensurePods(ctx, sp)
	if err != nil {
		return ctrl.Result{}, err
	}
	acc := sentinel.Access{User: sentinel.PoolAdminUser, Password: password}
	masters := r.masters(ctx, pods, acc)
	r.removeOrphans(ctx, sp, masters, acc)
	ready := r.poolReady(sp, pods, settled, masters)
	if stale != nil {
		// A new template (image, resources, scheduling): one sentinel at
		// a time.
		if ready {
			if err := r.restartOne(ctx, sp, stale, "the pod template changed"); err != nil {
				return ctrl.Result{}, err
			}
		}
	} else if err := r.teach(ctx, sp, pods, ready, acc); err != nil {
		return ctrl.Result{}, err
	}
	return r.observe(ctx, sp, pods, users, masters, acc)
}

// users are the RedisFailovers that name the pool or whose master it
// monitors (one moving away still is), sorted.
func (r *SentinelPoolReconciler) users(ctx context.Context, sp *haredisv1.SentinelPool) ([]haredisv1.RedisFailover, error) {
	var rfs haredisv1.RedisFailoverList
	if err := r.List(ctx, &rfs); err != nil {
		return nil, fmt.Errorf("cannot list RedisFailovers: %w", err)
	}
	key := sp.Namespace + "/" + sp.Name
	var out []haredisv1.RedisFailover
	for _, rf := range rfs.Items {
		if rf.PoolKey() == key || rf.Status.SentinelPool == key {
			out = append(out, rf)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out, nil
}

// finalize lets a pool go only once no RedisFailover uses it: its status
// lists those that still do.
func (r *SentinelPoolReconciler) finalize(ctx context.Context, sp *haredisv1.SentinelPool, users []haredisv1.RedisFailover) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(sp, haredisv1.PoolFinalizer) {
		return ctrl.Result{}, nil
	}
	if len(users) > 0 {
		names := make([]string, len(users))
		for i, rf := range users {
			names[i] = rf.Namespace + "/" + rf.Name
		}
		msg := fmt.Sprintf("the SentinelPool is deleted once no RedisFailover uses it; still used by %s: move each to dedicated sentinels (remove spec.sentinel.poolRef) or to another pool, or delete it", strings.Join(names, ", "))
		r.event(sp, corev1.EventTypeWarning, haredisv1.ReasonPoolInUse, "Delete", "%s", msg)
		return r.setStatus(ctx, sp, metav1.ConditionFalse, haredisv1.ReasonPoolInUse, msg)
	}
	controllerutil.RemoveFinalizer(sp, haredisv1.PoolFinalizer)
	if err := r.Update(ctx, sp); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot remove the finalizer: %w", err)
	}
	log.FromContext(ctx).Info("no RedisFailover uses the pool; let it go")
	return ctrl.Result{}, nil
}

// ensureSecret keeps the pool's admin password, generated once.
func (r *SentinelPoolReconciler) ensureSecret(ctx context.Context, sp *haredisv1.SentinelPool) (string, error) {
	var sec corev1.Secret
	err := r.Get(ctx, types.NamespacedName{Namespace: sp.Namespace, Name: sp.AuthSecretName()}, &sec)
	if err == nil && len(sec.Data[specs.PoolPasswordKey]) > 0 {
		return string(sec.Data[specs.PoolPasswordKey]), nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("cannot get Secret %s: %w", sp.AuthSecretName(), err)
	}
	if err == nil {
		return "", fmt.Errorf("secret %s has no %q key; delete it and haredis generates a new password (the pool's sentinels restart with it)", sp.AuthSecretName(), specs.PoolPasswordKey)
	}
	pw, err := specs.GeneratePassword()
	if err != nil {
		return "", err
	}
	if err := r.Create(ctx, specs.PoolSecret(sp, pw)); err != nil {
		return "", fmt.Errorf("cannot create Secret %s: %w", sp.AuthSecretName(), err)
	}
	log.FromContext(ctx).Info("generated the pool's password", "secret", sp.AuthSecretName())
	return pw, nil
}

// ensureObjects keeps the pool's Services and PodDisruptionBudget.
func (r *SentinelPoolReconciler) ensureObjects(ctx context.Context, sp *haredisv1.SentinelPool) error {
	for _, want := range specs.PoolServices(sp) {
		obj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
		if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
			obj.Labels, obj.OwnerReferences = want.Labels, want.OwnerReferences
			obj.Spec.Selector, obj.Spec.Ports, obj.Spec.PublishNotReadyAddresses = want.Spec.Selector, want.Spec.Ports, want.Spec.PublishNotReadyAddresses
			if obj.CreationTimestamp.IsZero() {
				obj.Spec.ClusterIP = want.Spec.ClusterIP
			}
			return nil
		}); err != nil {
			return fmt.Errorf("cannot apply Service %s: %w", want.Name, err)
		}
	}
	want := specs.PoolPDB(sp)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, pdb, func() error {
		pdb.Labels, pdb.OwnerReferences, pdb.Spec = want.Labels, want.OwnerReferences, want.Spec
		return nil
	}); err != nil {
		return fmt.Errorf("cannot apply PodDisruptionBudget %s: %w", want.Name, err)
	}
	return nil
}

// ensurePods keeps one pod per sentinel: missing ones are created, those
// beyond spec.replicas deleted (the highest first; the quorum of every
// master follows through the RedisFailover reconciler). stale is one of
// another revision (see restartOne); settled tells that every sentinel
// runs and is ready, and none is being deleted.
func (r *SentinelPoolReconciler) ensurePods(ctx context.Context, sp *haredisv1.SentinelPool) (kept []corev1.Pod, stale *corev1.Pod, settled bool, err error) {
	var list corev1.PodList
	if err := r.List(ctx, &list, client.InNamespace(sp.Namespace), client.MatchingLabels(specs.PoolSelector(sp))); err != nil {
		return nil, nil, false, fmt.Errorf("cannot list the pool's pods: %w", err)
	}
	want := int(sp.Spec.Replicas)
	rev := specs.PoolSentinelRevision(sp, r.Options)
	have := map[string]bool{}
	allReady := true
	for i := range list.Items {
		p := &list.Items[i]
		have[p.Name] = true
		n := poolSerial(sp, p.Name)
		if n < 1 || n > want {
			if p.DeletionTimestamp == nil {
				if err := r.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
					return nil, nil, false, fmt.Errorf("cannot delete pool sentinel %s: %w", p.Name, err)
				}
				log.FromContext(ctx).Info("deleted pool sentinel", "pod", p.Name, "reason", "spec.replicas lowered")
			}
			continue
		}
		if !podReady(p) || p.DeletionTimestamp != nil {
			allReady = false
		}
		if p.Annotations[haredisv1.AnnotationRevision] != rev && stale == nil {
			stale = p
		}
		kept = append(kept, *p)
	}
	for i := 1; i <= want; i++ {
		n := sp.SentinelName(i)
		if have[n] {
			continue
		}
		allReady = false
		if err := r.Create(ctx, specs.PoolSentinelPod(sp, n, r.Options)); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, nil, false, fmt.Errorf("cannot create pool sentinel %s: %w", n, err)
		}
		log.FromContext(ctx).Info("created pool sentinel", "pod", n)
	}
	if stale != nil {
		stale = stale.DeepCopy()
	}
	return kept, stale, allReady && len(kept) == want && len(list.Items) == want, nil
}

// restartOne deletes pool sentinel p (it is created again at once); the
// caller checked that the pool is ready for it (poolReady).
func (r *SentinelPoolReconciler) restartOne(ctx context.Context, sp *haredisv1.SentinelPool, p *corev1.Pod, why string) error {
	if err := r.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("cannot restart pool sentinel %s: %w", p.Name, err)
	}
	r.restarted.Store(sp.Namespace+"/"+sp.Name, restartedPod{uid: p.UID, at: time.Now()})
	log.FromContext(ctx).Info("restarted a pool sentinel", "pod", p.Name, "reason", why)
	return nil
}

// restartedPod is a pool sentinel restartOne deleted, and when.
type restartedPod struct {
	uid types.UID
	at  time.Time
}

// registerBound is how long the pool waits, after restarting a sentinel,
// for every sentinel to answer with the same masters before it restarts
// the next anyway: a master that one sentinel lacks for good (or a
// sentinel that cannot list its masters) must not stop a new template
// from rolling out.
const registerBound = time.Minute

// poolReady tells whether one pool sentinel may be restarted now: every
// one runs and is ready (settled), the one restarted last is no longer
// listed (the cache may lag behind its deletion), and every one answers
// with the same masters (the RedisFailovers registered themselves again
// on the last one restarted; registerBound after it, not waited for any
// longer). The others then hold every master's quorum meanwhile.
func (r *SentinelPoolReconciler) poolReady(sp *haredisv1.SentinelPool, pods []corev1.Pod, settled bool, masters map[string][]string) bool {
	if !settled {
		return false
	}
	// Before any restart since the operator started, the bound counts
	// from its first look.
	v, _ := r.restarted.LoadOrStore(sp.Namespace+"/"+sp.Name, restartedPod{at: time.Now()})
	last := v.(restartedPod)
	for _, p := range pods {
		if p.UID == last.uid {
			return false
		}
	}
	return sameMasters(masters, len(pods)) || time.Since(last.at) > registerBound
}

// poolSerial is N of pod NAME-sentinel-N of sp, 0 for another name.
func poolSerial(sp *haredisv1.SentinelPool, pod string) int {
	rest, ok := strings.CutPrefix(pod, sp.Name+"-sentinel-")
	if !ok {
		return 0
	}
	n := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// masters are the masters each pool sentinel that answers monitors (SENTINEL
// MASTERS), by address, read once per reconcile.
func (r *SentinelPoolReconciler) masters(ctx context.Context, pods []corev1.Pod, acc sentinel.Access) map[string][]string {
	out := map[string][]string{}
	for _, a := range r.Reach.SentinelAddrs(nil, pods) {
		if names, err := sentinel.MasterNames(ctx, a, acc); err == nil {
			out[a] = names
		}
	}
	return out
}

// removeOrphans removes from every pool sentinel the masters of
// RedisFailovers that no longer exist or no longer use the pool (a
// RedisFailover deleted while the operator was down, or a master left
// behind by an interrupted move). The RedisFailover is read from the API
// server, not the cache, so that one created a moment ago is never taken
// for gone.
func (r *SentinelPoolReconciler) removeOrphans(ctx context.Context, sp *haredisv1.SentinelPool, masters map[string][]string, acc sentinel.Access) {
	key := sp.Namespace + "/" + sp.Name
	verdict := map[string]bool{}
	for a, names := range masters {
		for _, m := range names {
			orphan, seen := verdict[m]
			if !seen {
				orphan = r.orphan(ctx, m, key)
				verdict[m] = orphan
			}
			if !orphan {
				continue
			}
			if err := sentinel.Remove(ctx, a, acc, m); err != nil {
				log.FromContext(ctx).Info("cannot remove an orphan master", "sentinel", a, "master", m, "error", err.Error())
				continue
			}
			log.FromContext(ctx).Info("removed the master of a RedisFailover that no longer uses the pool", "sentinel", a, "master", m)
		}
	}
}

// orphan tells whether master name m (NAMESPACE.NAME.UID.pool) belongs to
// no RedisFailover that uses pool key; false when that cannot be told.
func (r *SentinelPoolReconciler) orphan(ctx context.Context, m, key string) bool {
	rf, known := r.ownerOf(ctx, m)
	return known && (rf == nil || (rf.PoolKey() != key && rf.Status.SentinelPool != key))
}

// ownerOf is the RedisFailover whose pool master name is m, read from the
// API server; nil when there is none, known false when that cannot be
// told.
func (r *SentinelPoolReconciler) ownerOf(ctx context.Context, m string) (rf *haredisv1.RedisFailover, known bool) {
	rest, ok := strings.CutSuffix(m, ".pool")
	if !ok {
		return nil, false
	}
	ns, rest, ok := strings.Cut(rest, ".")
	i := strings.LastIndex(rest, ".")
	if !ok || i < 0 {
		return nil, false
	}
	rf = &haredisv1.RedisFailover{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: rest[:i]}, rf); err != nil {
		return nil, apierrors.IsNotFound(err)
	}
	if rf.PoolMasterName() != m {
		return nil, true // another RedisFailover of that name
	}
	return rf, true
}

// observe reports the pool's sentinels and, per RedisFailover it serves,
// how many of them monitor its master and what SENTINEL CKQUORUM says.
func (r *SentinelPoolReconciler) observe(ctx context.Context, sp *haredisv1.SentinelPool, pods []corev1.Pod, users []haredisv1.RedisFailover, masters map[string][]string, acc sentinel.Access) (ctrl.Result, error) {
	ready := int32(0)
	for i := range pods {
		if podReady(&pods[i]) {
			ready++
		}
	}
	addrs := r.Reach.SentinelAddrs(nil, pods)
	monitored := map[string]int32{}
	for _, names := range masters {
		for _, m := range names {
			monitored[m]++
		}
	}
	members := make([]haredisv1.PoolMember, 0, len(users))
	unhealthy := 0
	for _, rf := range users {
		m := haredisv1.PoolMember{Namespace: rf.Namespace, Name: rf.Name, MasterName: rf.PoolMasterName(), Monitoring: monitored[rf.PoolMasterName()]}
		switch {
		case rf.Spec.Hibernate:
			m.Problem = "hibernated: watched again once it wakes"
			members = append(members, m)
			continue
		case importing(&rf):
			m.Problem = "importing live: watched from its cutover on"
			members = append(members, m)
			continue
		case m.Monitoring == 0:
			m.Problem = "no sentinel of the pool monitors it yet"
		default:
			m.Healthy, m.Problem = r.ckquorum(ctx, addrs, acc, m.MasterName)
			if m.Healthy && m.Monitoring < sp.Spec.Replicas {
				m.Healthy, m.Problem = false, fmt.Sprintf("%d of %d sentinels monitor it", m.Monitoring, sp.Spec.Replicas)
			}
		}
		if !m.Healthy {
			unhealthy++
		}
		members = append(members, m)
	}
	sp.Status.Failovers = members
	sp.Status.FailoverCount = int32(len(members))
	sp.Status.ReadySentinels = ready
	switch {
	case ready < sp.Spec.Replicas:
		return r.setStatus(ctx, sp, metav1.ConditionFalse, haredisv1.ReasonPoolSentinelsNotReady,
			fmt.Sprintf("%d of %d sentinels are ready", ready, sp.Spec.Replicas))
	case unhealthy > 0:
		return r.setStatus(ctx, sp, metav1.ConditionFalse, haredisv1.ReasonPoolMasterUnhealthy,
			fmt.Sprintf("%d of %d RedisFailovers lack a sentinel or their quorum; see status.failovers", unhealthy, len(members)))
	}
	return r.setStatus(ctx, sp, metav1.ConditionTrue, haredisv1.ReasonPoolReady,
		fmt.Sprintf("%d sentinels ready, serving %d RedisFailovers", ready, len(members)))
}

// ckquorum asks the pool's sentinels, one after the other until one
// answers, for SENTINEL CKQUORUM of master m.
func (r *SentinelPoolReconciler) ckquorum(ctx context.Context, addrs []string, acc sentinel.Access, m string) (bool, string) {
	problem := "no sentinel answered SENTINEL CKQUORUM"
	for _, a := range addrs {
		ok, msg, err := sentinel.CKQuorum(ctx, a, acc, m)
		if err != nil {
			continue
		}
		if ok {
			return true, ""
		}
		problem = msg
		break
	}
	return false, problem
}

// setStatus writes the Ready condition and the phase, when they or the
// rest of the status changed.
func (r *SentinelPoolReconciler) setStatus(ctx context.Context, sp *haredisv1.SentinelPool, status metav1.ConditionStatus, reason, msg string) (ctrl.Result, error) {
	before := &haredisv1.SentinelPool{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(sp), before); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot read the pool's status: %w", err)
	}
	meta.SetStatusCondition(&sp.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionPoolReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: sp.Generation})
	sp.Status.ObservedGeneration = sp.Generation
	sp.Status.Endpoint = specs.PoolEndpoint(sp.Namespace, sp.Name)
	switch {
	case status == metav1.ConditionTrue:
		sp.Status.Phase = haredisv1.PhaseReady
	case sp.Status.ReadySentinels == 0:
		sp.Status.Phase = haredisv1.PhaseCreating
	default:
		sp.Status.Phase = haredisv1.PhaseDegraded
	}
	if !equality.Semantic.DeepEqual(before.Status, sp.Status) {
		if err := r.Status().Update(ctx, sp); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot update the pool's status: %w", err)
		}
	}
	return ctrl.Result{RequeueAfter: PoolObservePeriod}, nil
}

func (r *SentinelPoolReconciler) event(sp *haredisv1.SentinelPool, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(sp, nil, eventType, reason, action, note, args...)
	}
}
