package controller

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// Condition reasons of the create steps.
const (
	ReasonPasswordSecretMissing = "PasswordSecretMissing"
	ReasonSentinelPoolMissing   = "SentinelPoolNotSupported"
)

// waitForUser is how often a RedisFailover blocked on something the user
// must fix is looked at again.
const waitForUser = 10 * time.Second

// reconcileSecrets creates the generated password (once: it is never
// rotated behind the user's back) and keeps the connection Secret current.
func (r *RedisFailoverReconciler) reconcileSecrets(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if rf.AuthEnabled() {
		name, key := specs.PasswordSecretRef(rf)
		secret := &corev1.Secret{}
		err := r.Get(ctx, types.NamespacedName{Namespace: rf.Namespace, Name: name}, secret)
		switch {
		case apierrors.IsNotFound(err) && rf.Spec.Auth.PasswordSecret == nil:
			pw, err := specs.GeneratePassword()
			if err != nil {
				return ctrl.Result{}, err
			}
			if err := r.Create(ctx, specs.AuthSecret(rf, pw)); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot create Secret %s: %w", name, err)
			}
			log.FromContext(ctx).Info("generated the password", "secret", name)
			st.password = pw
		case apierrors.IsNotFound(err):
			return r.blocked(ctx, rf, ReasonPasswordSecretMissing,
				fmt.Sprintf("spec.auth.passwordSecret: Secret %s not found in namespace %s; create it with the key %s, or remove spec.auth.passwordSecret to let haredis generate a password", name, rf.Namespace, key))
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("cannot get Secret %s: %w", name, err)
		default:
			pw, ok := secret.Data[key]
			if !ok || len(pw) == 0 {
				return r.blocked(ctx, rf, ReasonPasswordSecretMissing,
					fmt.Sprintf("spec.auth.passwordSecret: Secret %s has no key %s or it is empty; add the password under that key", name, key))
			}
			st.password = strings.TrimRight(string(pw), "\r\n")
		}
	}
	want := specs.ConnectionSecret(rf, st.password)
	obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	_, err := r.createOrUpdate(ctx, obj, want, func() { obj.Data = want.Data; obj.Type = want.Type })
	return ctrl.Result{}, err
}

// planInstances decides the instance names: every instance that has a PVC
// or a pod, plus new serials up to spec.redis.replicas. The highest serial
// ever used is recorded in an annotation before any object of a new serial
// exists, so a number is never reused.
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
	st.pods = map[string]*corev1.Pod{}
	for i := range pvcs.Items {
		if n := pvcs.Items[i].Labels[specs.LabelRedisInstance]; serialOf(rf, n) > 0 {
			members[n] = true
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if serialOf(rf, p.Name) > 0 {
			members[p.Name] = true
			st.pods[p.Name] = p
		}
	}
	last, _ := strconv.Atoi(rf.Annotations[specs.AnnotationLastSerial])
	for n := range members {
		last = max(last, serialOf(rf, n))
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
		rf.Annotations[specs.AnnotationLastSerial] = strconv.Itoa(last)
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

// serialOf returns N of NAME-N, or 0 when name is not an instance name.
func serialOf(rf *haredisv1.RedisFailover, name string) int {
	rest, ok := strings.CutPrefix(name, rf.Name+"-")
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
	cfg := specs.InstanceConfig(rf, st.instances)
	if !cfg.HasInstance(cfg.InitialPrimary) {
		// An adopted set of volumes without NAME-1: start from the lowest serial.
		cfg.InitialPrimary = st.instances[0]
	}
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

// reconcilePVCs creates missing volumes; existing ones are never changed
// here (growth is a planned operation) and never get an owner.
func (r *RedisFailoverReconciler) reconcilePVCs(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	for _, n := range st.instances {
		pvc := specs.InstancePVC(rf, n)
		err := r.Create(ctx, pvc)
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot create PVC %s: %w", n, err)
		}
		log.FromContext(ctx).Info("created PVC", "pvc", n, "size", pvc.Spec.Resources.Requests.Storage().String())
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
		role := haredisv1.RoleReplica
		if n == rf.Status.CurrentPrimary {
			role = haredisv1.RolePrimary
		}
		pod := specs.InstancePod(rf, n, role, r.Options)
		pod.Annotations = map[string]string{specs.AnnotationConfigGeneration: strconv.FormatInt(rf.Generation, 10)}
		if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("cannot create pod %s: %w", n, err)
		}
		st.pods[n] = pod
		log.FromContext(ctx).Info("created instance pod", "pod", n, "role", role)
	}
	return ctrl.Result{}, nil
}

func (r *RedisFailoverReconciler) reconcileSentinelPods(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if rf.Spec.Sentinel.PoolRef != nil {
		return r.blocked(ctx, rf, ReasonSentinelPoolMissing,
			"spec.sentinel.poolRef: shared SentinelPools are not supported yet; remove spec.sentinel.poolRef to get dedicated sentinels")
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot list sentinel pods: %w", err)
	}
	have := map[string]bool{}
	for _, p := range pods.Items {
		have[p.Name] = true
	}
	st.sentinels = pods.Items
	for i := 1; i <= int(rf.Spec.Sentinel.Replicas); i++ {
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
	return ctrl.Result{}, nil
}

// createOrUpdate creates obj from want, or applies mutate to the existing
// object; labels and the owner reference are always put back.
func (r *RedisFailoverReconciler) createOrUpdate(ctx context.Context, obj, want client.Object, mutate func()) (controllerutil.OperationResult, error) {
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
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
	})
	if err != nil {
		return op, fmt.Errorf("cannot create or update %T %s: %w", obj, want.GetName(), err)
	}
	if op != controllerutil.OperationResultNone {
		log.FromContext(ctx).Info("applied object", "kind", fmt.Sprintf("%T", obj), "name", want.GetName(), "operation", op)
	}
	return op, nil
}
