package controller

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// waitForUser is how often a RedisFailover blocked on something the user
// must fix is looked at again.
const waitForUser = 10 * time.Second

// planInstances decides the instance names: every instance that has a PVC
// or a pod, plus new serials up to spec.redis.replicas. The highest serial
// ever used is recorded in an annotation before any object of a new serial
// exists, so a number is never reused. An instance whose volume a scale
// down detached or deleted is no member any more: its pod is leaving, as
// is any terminating pod without a volume.
func (r *RedisFailoverReconciler) planInstances(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	sel := client.MatchingLabels(specs.Selector(rf, specs.ComponentRedis))
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &pvcs, client.InNamespace(rf.Namespace), sel); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot list PVCs: %w", err)
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), sel); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot list pods: %w", err)
	}
	members := map[string]bool{}
	gone := map[string]bool{}
	st.pods = map[string]*corev1.Pod{}
	st.pvcs = map[string]*corev1.PersistentVolumeClaim{}
	st.leaving = nil
	last, _ := strconv.Atoi(rf.Annotations[haredisv1.AnnotationLastSerial])
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		n := pvc.Labels[haredisv1.LabelRedisInstance]
		if serialOf(rf, n) == 0 {
			continue
		}
		last = max(last, serialOf(rf, n))
		if _, detached := pvc.Labels[haredisv1.LabelDetached]; detached || pvc.DeletionTimestamp != nil {
			gone[n] = true
			continue
		}
		members[n] = true
		st.pvcs[n] = pvc
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if serialOf(rf, p.Name) == 0 {
			continue
		}
		last = max(last, serialOf(rf, p.Name))
		// A terminating pod whose volume is gone or going (a scale down
		// with keepAfterDeletion false deletes it; the cache may drop the
		// volume before the pod) is leaving too: counted as a member it
		// would get a new, empty volume and come back.
		if gone[p.Name] || (p.DeletionTimestamp != nil && !members[p.Name]) {
			st.leaving = append(st.leaving, p)
			continue
		}
		members[p.Name] = true
		st.pods[p.Name] = p
	}
	need := int(rf.Spec.Redis.Replicas) - len(members)
	if need > 0 {
		var added []string
		for i := 1; i <= need; i++ {
			n := rf.InstanceName(last + i)
			members[n] = true
			added = append(added, n)
		}
		last += need
		if rf.Annotations == nil {
			rf.Annotations = map[string]string{}
		}
		rf.Annotations[haredisv1.AnnotationLastSerial] = strconv.Itoa(last)
		if err := r.Update(ctx, rf); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot record the last instance serial: %w", err)
		}
		log.FromContext(ctx).Info("planned new instances", "instances", added, "lastSerial", last)
	}
	st.instances = st.instances[:0]
	for n := range members {
		st.instances = append(st.instances, n)
	}
	sort.Slice(st.instances, func(i, j int) bool { return serialOf(rf, st.instances[i]) < serialOf(rf, st.instances[j]) })
	return ctrl.Result{}, nil
}

// sentinelSerial returns N of NAME-sentinel-N, or 0.
func sentinelSerial(rf *haredisv1.RedisFailover, name string) int {
	return serialAfter(rf.Name+"-sentinel-", name)
}

// serialOf returns N of NAME-N, or 0 when name is not an instance name.
func serialOf(rf *haredisv1.RedisFailover, name string) int { return serialAfter(rf.Name+"-", name) }

// serialAfter returns N of PREFIXN written without leading zeros, or 0.
func serialAfter(prefix, name string) int {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

func (r *RedisFailoverReconciler) reconcileConfigMap(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	var pool *haredisv1.SentinelPool
	if rf.PoolKey() != "" {
		pool = st.pool
	}
	cfg := specs.InstanceConfig(rf, st.instances, pool)
	if !cfg.HasInstance(cfg.InitialPrimary) {
		// An adopted set of volumes without NAME-1: start from the lowest serial.
		cfg.InitialPrimary = st.instances[0]
	}
	cfg.Bootstrap = st.bootstrap
	want, err := specs.InstanceConfigMap(rf, cfg)
	if err != nil {
		return ctrl.Result{}, err
	}
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	_, err = r.createOrUpdate(ctx, obj, want, func() { obj.Data = want.Data })
	return ctrl.Result{}, err
}

func (r *RedisFailoverReconciler) reconcileServices(ctx context.Context, rf *haredisv1.RedisFailover, _ *state) (ctrl.Result, error) {
	for _, want := range specs.Services(rf) {
		obj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
		_, err := r.createOrUpdate(ctx, obj, want, func() {
			if obj.CreationTimestamp.IsZero() {
				obj.Spec.ClusterIP = want.Spec.ClusterIP
			}
			obj.Spec.Type = want.Spec.Type
			obj.Spec.Selector = want.Spec.Selector
			obj.Spec.Ports = want.Spec.Ports
			obj.Spec.PublishNotReadyAddresses = want.Spec.PublishNotReadyAddresses
		})
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

func (r *RedisFailoverReconciler) reconcileRBAC(ctx context.Context, rf *haredisv1.RedisFailover, _ *state) (ctrl.Result, error) {
	sa := specs.ServiceAccount(rf)
	saObj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa.Name, Namespace: sa.Namespace}}
	if _, err := r.createOrUpdate(ctx, saObj, sa, func() {}); err != nil {
		return ctrl.Result{}, err
	}
	role := specs.Role(rf)
	roleObj := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: role.Namespace}}
	if _, err := r.createOrUpdate(ctx, roleObj, role, func() { roleObj.Rules = role.Rules }); err != nil {
		return ctrl.Result{}, err
	}
	rb := specs.RoleBinding(rf)
	rbObj := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: rb.Name, Namespace: rb.Namespace}}
	_, err := r.createOrUpdate(ctx, rbObj, rb, func() { rbObj.RoleRef = rb.RoleRef; rbObj.Subjects = rb.Subjects })
	return ctrl.Result{}, err
}

func (r *RedisFailoverReconciler) reconcilePDBs(ctx context.Context, rf *haredisv1.RedisFailover, _ *state) (ctrl.Result, error) {
	for _, want := range specs.PodDisruptionBudgets(rf) {
		obj := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
		if _, err := r.createOrUpdate(ctx, obj, want, func() { obj.Spec = want.Spec }); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// reconcileNetworkPolicies keeps one NetworkPolicy per component
// (specs.NetworkPolicies), and removes those no longer wanted:
// spec.networkPolicy.enabled false, or the proxy's when the proxy is off.
func (r *RedisFailoverReconciler) reconcileNetworkPolicies(ctx context.Context, rf *haredisv1.RedisFailover, _ *state) (ctrl.Result, error) {
	wanted := map[string]bool{}
	if rf.NetworkPolicyEnabled() {
		for _, want := range specs.NetworkPolicies(rf, r.Options) {
			wanted[want.Name] = true
			obj := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
			if _, err := r.createOrUpdate(ctx, obj, want, func() { obj.Spec = want.Spec }); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot apply NetworkPolicy %s: %w", want.Name, err)
			}
		}
	}
	for _, c := range []string{specs.ComponentRedis, specs.ComponentSentinel, specs.ComponentProxy} {
		name := specs.NetworkPolicyName(rf, c)
		if wanted[name] {
			continue
		}
		obj := &networkingv1.NetworkPolicy{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: rf.Namespace, Name: name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return ctrl.Result{}, fmt.Errorf("cannot get NetworkPolicy %s: %w", name, err)
		}
		if !metav1.IsControlledBy(obj, rf) {
			continue
		}
		if err := r.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("cannot delete NetworkPolicy %s: %w", name, err)
		}
		log.FromContext(ctx).Info("removed a NetworkPolicy", "networkPolicy", name)
	}
	return ctrl.Result{}, nil
}

// reconcilePVCs creates missing volumes and grows existing ones to
// spec.redis.storage.size in place (no restart: the storage system and the
// kubelet grow the file system online). Volumes never get an owner.
func (r *RedisFailoverReconciler) reconcilePVCs(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	st.resizeErrors = map[string]string{}
	for _, n := range st.instances {
		want := specs.InstancePVC(rf, n)
		size := want.Spec.Resources.Requests[corev1.ResourceStorage]
		pvc := st.pvcs[n]
		if pvc == nil {
			err := r.Create(ctx, want)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot create PVC %s: %w", n, err)
			}
			st.pvcs[n] = want
			log.FromContext(ctx).Info("created PVC", "pvc", n, "size", size.String())
			continue
		}
		cur := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if cur.Cmp(size) >= 0 {
			continue
		}
		patch := client.MergeFrom(pvc.DeepCopy())
		if pvc.Spec.Resources.Requests == nil {
			pvc.Spec.Resources.Requests = corev1.ResourceList{}
		}
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = size
		if err := r.Patch(ctx, pvc, patch); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{}, err
			}
			// Refused (the storage class cannot grow volumes, a quota):
			// the condition says why; the volume keeps its size.
			st.resizeErrors[n] = err.Error()
			pvc.Spec.Resources.Requests[corev1.ResourceStorage] = cur
			continue
		}
		log.FromContext(ctx).Info("growing volume", "pvc", n, "from", cur.String(), "to", size.String())
		r.eventOn(rf, pvc, corev1.EventTypeNormal, haredisv1.EventGrowingVolume, "Resize", "growing volume %s from %s to %s", n, cur.String(), size.String())
	}
	return ctrl.Result{}, nil
}

// reconcileInstancePods creates the pod of every instance that has none. A
// pod being deleted is waited for: its replacement must not share the
// volume with it.
func (r *RedisFailoverReconciler) reconcileInstancePods(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	for _, n := range st.instances {
		if _, ok := st.pods[n]; ok {
			continue
		}
		if importing(rf) && n != rf.Status.CurrentPrimary {
			continue // the others sync from it after the cutover
		}
		role := haredisv1.RoleReplica
		if n == rf.Status.CurrentPrimary {
			role = haredisv1.RolePrimary
		}
		pod := specs.InstancePod(rf, n, role, r.Options)
		if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("cannot create pod %s: %w", n, err)
		}
		st.pods[n] = pod
		log.FromContext(ctx).Info("created instance pod", "pod", n, "role", role)
	}
	return ctrl.Result{}, nil
}

// reconcileSentinelPods keeps rf's dedicated sentinel pods while they are
// in charge or take over from a pool, and deletes them once a pool is in
// charge and meant to stay; st.sentinels are the pods of the set in charge
// (the pool's, or the dedicated ones), st.joining those of the set that
// takes over during a move.
func (r *RedisFailoverReconciler) reconcileSentinelPods(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if importing(rf) {
		// A sentinel would count a monitored primary that runs as a replica
		// of the source down, and fail over to an empty replica.
		st.sentinels = st.sentinels[:0]
		return ctrl.Result{}, nil
	}
	want := int(rf.Spec.Sentinel.Replicas)
	if rf.OnPool() && rf.PoolKey() != "" {
		want = 0
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot list sentinel pods: %w", err)
	}
	have := map[string]bool{}
	var dedicated []corev1.Pod
	for _, p := range pods.Items {
		have[p.Name] = true
		if n := sentinelSerial(rf, p.Name); n > want {
			// Fewer sentinels asked for, or a pool took over: the highest go.
			if p.DeletionTimestamp == nil {
				if err := r.Delete(ctx, &p); err != nil && !apierrors.IsNotFound(err) {
					return ctrl.Result{}, fmt.Errorf("cannot delete sentinel pod %s: %w", p.Name, err)
				}
				why := "spec.sentinel.replicas lowered"
				if want == 0 {
					why = "SentinelPool " + rf.Status.SentinelPool + " is in charge"
				}
				log.FromContext(ctx).Info("deleted sentinel pod", "pod", p.Name, "reason", why)
			}
			continue
		}
		dedicated = append(dedicated, p)
	}
	for i := 1; i <= want; i++ {
		n := rf.SentinelName(i)
		if have[n] {
			continue
		}
		pod := specs.SentinelPod(rf, n, r.Options)
		if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("cannot create sentinel pod %s: %w", n, err)
		}
		log.FromContext(ctx).Info("created sentinel pod", "pod", n)
	}
	st.sentinels, st.joining = dedicated, nil
	var err error
	switch {
	case st.pool != nil:
		if st.sentinels, err = r.poolPods(ctx, st.pool); err != nil {
			return ctrl.Result{}, err
		}
		if rf.PoolKey() == "" {
			st.joining = dedicated
		}
	case st.joinPool != nil:
		if st.joining, err = r.poolPods(ctx, st.joinPool); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// createOrUpdate creates obj from want, or applies mutate to the existing
// object; labels and the owner reference are always put back.
func (r *RedisFailoverReconciler) createOrUpdate(ctx context.Context, obj, want client.Object, mutate func()) (controllerutil.OperationResult, error) {
	apply := func() error {
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range want.GetLabels() {
			labels[k] = v
		}
		obj.SetLabels(labels)
		obj.SetOwnerReferences(want.GetOwnerReferences())
		mutate()
		return nil
	}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, apply)
	if apierrors.IsAlreadyExists(err) {
		// An object of this name without haredis's labels (re-created by
		// hand) is not in the cache: read it from the API server and adopt
		// it, labels included, so that the cache holds it from now on.
		key := client.ObjectKeyFromObject(obj)
		// The failed create left obj filled in; read into it afresh (the
		// mutate functions hold obj itself).
		v := reflect.ValueOf(obj).Elem()
		v.Set(reflect.Zero(v.Type()))
		if err = r.APIReader.Get(ctx, key, obj); err == nil {
			_ = apply()
			if err = r.Update(ctx, obj); err == nil {
				op = controllerutil.OperationResultUpdated
			}
		}
	}
	if err != nil {
		return op, fmt.Errorf("cannot create or update %T %s: %w", obj, want.GetName(), err)
	}
	if op != controllerutil.OperationResultNone {
		log.FromContext(ctx).Info("applied object", "kind", fmt.Sprintf("%T", obj), "name", want.GetName(), "operation", op)
	}
	return op, nil
}

// reconcileProxy runs the proxy Deployment behind the Service NAME when
// spec.proxy.enabled (the default), and removes it otherwise. The pod
// template is replaced only when what haredis builds changed (annotation
// haredis.dev/revision), so the API server's defaults never cause an
// endless stream of updates. st.proxies lists the proxy pods for the
// switchover's pause and resume.
func (r *RedisFailoverReconciler) reconcileProxy(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	st.proxies, st.readyProxies = nil, 0
	key := types.NamespacedName{Namespace: rf.Namespace, Name: specs.ProxyName(rf)}
	if !rf.ProxyEnabled() {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &policyv1.PodDisruptionBudget{}} {
			if err := r.Get(ctx, key, obj); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return ctrl.Result{}, fmt.Errorf("cannot get %T %s: %w", obj, key.Name, err)
			}
			if err := r.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("cannot delete %T %s: %w", obj, key.Name, err)
			}
			log.FromContext(ctx).Info("removed the proxy", "kind", fmt.Sprintf("%T", obj), "reason", "spec.proxy.enabled is false")
		}
		return ctrl.Result{}, nil
	}
	want := specs.ProxyDeployment(rf, r.Options)
	rev := specs.PodTemplateRevision(want.Spec.Template)
	obj := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	if _, err := r.createOrUpdate(ctx, obj, want, func() {
		if obj.CreationTimestamp.IsZero() {
			obj.Spec.Selector = want.Spec.Selector
		}
		obj.Spec.Replicas = want.Spec.Replicas
		obj.Spec.Strategy = want.Spec.Strategy
		if obj.Annotations[haredisv1.AnnotationRevision] != rev {
			obj.Spec.Template = want.Spec.Template
			if obj.Annotations == nil {
				obj.Annotations = map[string]string{}
			}
			obj.Annotations[haredisv1.AnnotationRevision] = rev
		}
	}); err != nil {
		return ctrl.Result{}, err
	}
	st.readyProxies = obj.Status.ReadyReplicas
	pdb := specs.ProxyPodDisruptionBudget(rf)
	pdbObj := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: pdb.Name, Namespace: pdb.Namespace}}
	if _, err := r.createOrUpdate(ctx, pdbObj, pdb, func() { pdbObj.Spec = pdb.Spec }); err != nil {
		return ctrl.Result{}, err
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentProxy))); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot list proxy pods: %w", err)
	}
	st.proxies = pods.Items
	return ctrl.Result{}, nil
}
