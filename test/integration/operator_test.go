package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/redistest"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/controller"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/specs"
)

const operatorImage = "haredis/haredis:test"

var logOnce sync.Once

// startOperator runs the operator in this process, limited to namespaces so
// that tests running side by side never reconcile each other's objects.
func startOperator(t *testing.T, reach controller.Reach, namespaces ...string) (stop func()) {
	t.Helper()
	logOnce.Do(func() {
		// HAREDIS_TEST_OPERATOR_LOG=1 shows the operator's decisions.
		w := io.Discard
		if os.Getenv("HAREDIS_TEST_OPERATOR_LOG") != "" {
			w = os.Stderr
		}
		ctrl.SetLogger(zap.New(zap.WriteTo(w), zap.UseDevMode(true)))
	})
	mgr, err := controller.NewManager(cp.Config, controller.ManagerOptions{
		Scheme: k8sClient.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Namespaces: namespaces, SeveralInProcess: true, Specs: specs.Options{OperatorImage: operatorImage}, Reach: reach,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("the operator stopped with an error: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("the operator did not stop within 30 s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func createRF(t *testing.T, ns, name string, mutate func(*haredisv1.RedisFailover)) *haredisv1.RedisFailover {
	t.Helper()
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if mutate != nil {
		mutate(rf)
	}
	if err := k8sClient.Create(context.Background(), rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

func getRF(ctx context.Context, ns, name string) (*haredisv1.RedisFailover, error) {
	rf := &haredisv1.RedisFailover{}
	err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rf)
	return rf, err
}

func isControlledBy(obj metav1.Object, rf *haredisv1.RedisFailover) error {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != rf.UID || ref.Kind != "RedisFailover" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		return fmt.Errorf("%s is not controlled by RedisFailover %s: %+v", obj.GetName(), rf.Name, obj.GetOwnerReferences())
	}
	return nil
}

// TestOperatorCreatesEveryObject: one RedisFailover gives every object the
// design lists, with owner references (none on PVCs), labels, selectors and
// the recorded identity.
func TestOperatorCreatesEveryObject(t *testing.T) {
	ns := newNamespace(t, "create")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", nil)
	ctx := context.Background()

	var rf *haredisv1.RedisFailover
	redistest.WaitFor(t, 60*time.Second, "three instance pods and three sentinel pods", func(ctx context.Context) error {
		var pods corev1.PodList
		if err := k8sClient.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(pods.Items) != 6 {
			return fmt.Errorf("%d pods", len(pods.Items))
		}
		var err error
		rf, err = getRF(ctx, ns, "app")
		return err
	})

	if rf.Status.MasterName != rf.MasterName() || rf.Status.CurrentPrimary != "app-1" {
		t.Errorf("status: masterName %q currentPrimary %q; want %q and app-1", rf.Status.MasterName, rf.Status.CurrentPrimary, rf.MasterName())
	}
	if !containsString(rf.Finalizers, haredisv1.Finalizer) {
		t.Errorf("finalizers %v lack %s", rf.Finalizers, haredisv1.Finalizer)
	}
	if got := rf.Annotations[haredisv1.AnnotationLastSerial]; got != "3" {
		t.Errorf("last serial annotation %q, want 3", got)
	}
	if want := "redis://app." + ns + ".svc.cluster.local:6379"; rf.Status.Endpoints.RedisURL != want {
		t.Errorf("redisURL %q, want %q", rf.Status.Endpoints.RedisURL, want)
	}

	for i, name := range []string{"app-1", "app-2", "app-3"} {
		pod := &corev1.Pod{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
			t.Fatal(err)
		}
		if err := isControlledBy(pod, rf); err != nil {
			t.Error(err)
		}
		wantRole := "replica"
		if i == 0 {
			wantRole = "primary"
		}
		if pod.Labels[haredisv1.LabelRole] != wantRole || pod.Labels[haredisv1.LabelRedisInstance] != name {
			t.Errorf("pod %s labels %v: want role %s and instance %s", name, pod.Labels, wantRole, name)
		}
		if pod.Spec.Hostname != name || pod.Spec.Subdomain != "app-headless" || pod.Spec.InitContainers[0].Image != operatorImage ||
			pod.Spec.Containers[0].Image != "valkey/valkey:8.0" || *pod.Spec.TerminationGracePeriodSeconds < 40 {
			t.Errorf("pod %s: hostname %q subdomain %q init image %q image %q grace %d", name, pod.Spec.Hostname, pod.Spec.Subdomain,
				pod.Spec.InitContainers[0].Image, pod.Spec.Containers[0].Image, *pod.Spec.TerminationGracePeriodSeconds)
		}
		pvc := &corev1.PersistentVolumeClaim{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pvc); err != nil {
			t.Fatalf("PVC %s: %v", name, err)
		}
		if len(pvc.OwnerReferences) != 0 {
			t.Errorf("PVC %s has owners %v; only the finalizer may delete it", name, pvc.OwnerReferences)
		}
		if got := pvc.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
			t.Errorf("PVC %s size %s, want 1Gi", name, got)
		}
	}
	for i := 1; i <= 3; i++ {
		pod := &corev1.Pod{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("app-sentinel-%d", i)}, pod); err != nil {
			t.Fatal(err)
		}
		if err := isControlledBy(pod, rf); err != nil {
			t.Error(err)
		}
		// No quorum argument: the sentinel takes a majority of the sentinels
		// in instance.json, and the operator changes it live.
		if cmd := pod.Spec.Containers[0].Command; pod.Spec.Subdomain != "app-sentinel-headless" || !containsString(cmd, "sentinel") || !containsString(cmd, "run") {
			t.Errorf("sentinel pod %s: subdomain %q command %v", pod.Name, pod.Spec.Subdomain, pod.Spec.Containers[0].Command)
		}
	}

	wantSelectors := map[string]map[string]string{
		"app":                   {specs.LabelInstance: "app", specs.LabelComponent: "proxy"},
		"app-primary":           {specs.LabelInstance: "app", specs.LabelComponent: "redis", haredisv1.LabelRole: "primary"},
		"app-replicas":          {specs.LabelInstance: "app", specs.LabelComponent: "redis", haredisv1.LabelRole: "replica"},
		"app-headless":          {specs.LabelInstance: "app", specs.LabelComponent: "redis"},
		"app-sentinel":          {specs.LabelInstance: "app", specs.LabelComponent: "sentinel"},
		"app-sentinel-headless": {specs.LabelInstance: "app", specs.LabelComponent: "sentinel"},
	}
	for name, want := range wantSelectors {
		svc := &corev1.Service{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			t.Fatalf("Service %s: %v", name, err)
		}
		if err := isControlledBy(svc, rf); err != nil {
			t.Error(err)
		}
		if diff := cmp.Diff(want, svc.Spec.Selector); diff != "" {
			t.Errorf("Service %s selector (-want +got):\n%s", name, diff)
		}
		if strings.HasSuffix(name, "headless") && (svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses) {
			t.Errorf("Service %s: clusterIP %q publishNotReadyAddresses %v", name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
		}
	}

	auth := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-auth"}, auth); err != nil {
		t.Fatal(err)
	}
	password := string(auth.Data[specs.PasswordKey])
	if len(password) < 40 {
		t.Errorf("generated password has %d characters", len(password))
	}
	conn := &corev1.Secret{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-connection"}, conn); err != nil {
		t.Fatal(err)
	}
	if string(conn.Data[specs.ConnPassword]) != password || string(conn.Data[specs.ConnMasterName]) != rf.MasterName() ||
		!strings.Contains(string(conn.Data[specs.ConnURL]), password) {
		t.Errorf("connection secret does not carry the password and master name: keys %v", keys(conn.Data))
	}
	for _, obj := range []client.Object{auth, conn} {
		if err := isControlledBy(obj, rf); err != nil {
			t.Error(err)
		}
	}

	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-instance"}, cm); err != nil {
		t.Fatal(err)
	}
	cfg, err := instanceconfig.Parse([]byte(cm.Data[specs.InstanceConfigKey]))
	if err != nil {
		t.Fatalf("instance.json would be refused: %v", err)
	}
	if diff := cmp.Diff([]string{"app-1", "app-2", "app-3"}, cfg.Instances); diff != "" || cfg.MasterName != rf.MasterName() || cfg.InitialPrimary != "app-1" || cfg.MinReplicasToWrite != 1 {
		t.Errorf("instance.json: instances diff %s, masterName %q, initialPrimary %q, minReplicasToWrite %d", diff, cfg.MasterName, cfg.InitialPrimary, cfg.MinReplicasToWrite)
	}

	proxy := &appsv1.Deployment{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-proxy"}, proxy); err != nil {
		t.Fatalf("proxy Deployment: %v", err)
	}
	if err := isControlledBy(proxy, rf); err != nil {
		t.Error(err)
	}
	pc := proxy.Spec.Template.Spec.Containers[0]
	if *proxy.Spec.Replicas != 2 || pc.Image != operatorImage || !containsString(pc.Command, "--master-name="+rf.MasterName()) ||
		!containsString(pc.Command, "--password-file=/etc/haredis/auth/password") || pc.ReadinessProbe == nil || pc.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("proxy Deployment: replicas %d image %q command %v readiness %+v", *proxy.Spec.Replicas, pc.Image, pc.Command, pc.ReadinessProbe)
	}
	for _, name := range []string{"app-redis", "app-sentinel", "app-proxy"} {
		pdb := &policyv1.PodDisruptionBudget{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pdb); err != nil {
			t.Fatalf("PDB %s: %v", name, err)
		}
		if err := isControlledBy(pdb, rf); err != nil {
			t.Error(err)
		}
	}
	sa := &corev1.ServiceAccount{}
	role := &rbacv1.Role{}
	rb := &rbacv1.RoleBinding{}
	for _, obj := range []client.Object{sa, role, rb} {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-haredis"}, obj); err != nil {
			t.Fatalf("%T: %v", obj, err)
		}
		if err := isControlledBy(obj, rf); err != nil {
			t.Error(err)
		}
	}

	// No sentinel or instance answers here (no nodes): the status says so,
	// and auth is on.
	rf, _ = getRF(ctx, ns, "app")
	if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != haredisv1.ReasonPrimaryUnavailable ||
		!strings.Contains(c.Message, "does not answer") {
		t.Errorf("Ready condition %+v, want False/PrimaryUnavailable saying the primary does not answer", c)
	}
	if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionAuthDisabled); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("AuthDisabled condition %+v, want False", c)
	}
	if rf.Status.Phase != haredisv1.PhaseCreating || rf.Status.ObservedGeneration != rf.Generation {
		t.Errorf("phase %q observedGeneration %d (generation %d)", rf.Status.Phase, rf.Status.ObservedGeneration, rf.Generation)
	}
}

// TestSerialsAreNeverReused: a deleted pod comes back under its own name
// (its PVC is there); an instance whose PVC and pod were both removed while
// the operator was down is replaced by a new serial, never the old number.
func TestSerialsAreNeverReused(t *testing.T) {
	ns := newNamespace(t, "serial")
	stop := startOperator(t, nil, ns)
	createRF(t, ns, "app", nil)
	ctx := context.Background()
	redistest.WaitFor(t, 60*time.Second, "pods app-1..3", func(ctx context.Context) error { return podsExist(ctx, ns, "app-1", "app-2", "app-3") })

	old := &corev1.Pod{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-2"}, old); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "a new pod app-2", func(ctx context.Context) error {
		p := &corev1.Pod{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-2"}, p); err != nil {
			return err
		}
		if p.UID == old.UID {
			return errors.New("still the old pod")
		}
		return nil
	})

	// Remove instance app-3 entirely while the operator is down (the PVC's
	// protection finalizer is cleared by hand: no controller manager runs in
	// this tier).
	stop()
	pvc := &corev1.PersistentVolumeClaim{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-3"}, pvc); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Delete(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	clearFinalizers(t, pvc)
	if err := k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-3"}}); err != nil {
		t.Fatal(err)
	}
	startOperator(t, nil, ns)
	redistest.WaitFor(t, 30*time.Second, "pod and PVC app-4", func(ctx context.Context) error { return podsExist(ctx, ns, "app-4") })
	for _, name := range []string{"app-3"} {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Pod{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("pod %s came back (err %v): serial numbers must never be reused", name, err)
		}
	}
	rf, _ := getRF(ctx, ns, "app")
	if got := rf.Annotations[haredisv1.AnnotationLastSerial]; got != "4" {
		t.Errorf("last serial %q, want 4", got)
	}
}

func podsExist(ctx context.Context, ns string, names ...string) error {
	for _, n := range names {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &corev1.Pod{}); err != nil {
			return err
		}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &corev1.PersistentVolumeClaim{}); err != nil {
			return err
		}
	}
	return nil
}

func clearFinalizers(t *testing.T, obj client.Object) {
	t.Helper()
	err := k8sClient.Patch(context.Background(), obj, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// TestFinalizerDeletesVolumesOnlyPerPolicy: keepAfterDeletion false deletes
// the PVCs with the RedisFailover; the default keeps them.
func TestFinalizerDeletesVolumesOnlyPerPolicy(t *testing.T) {
	ns := newNamespace(t, "finalizer")
	startOperator(t, nil, ns)
	createRF(t, ns, "drop", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Storage.KeepAfterDeletion = ptr.To(false) })
	createRF(t, ns, "keep", nil)
	ctx := context.Background()
	redistest.WaitFor(t, 60*time.Second, "PVCs of both", func(ctx context.Context) error {
		return podsExist(ctx, ns, "drop-1", "drop-2", "drop-3", "keep-1", "keep-2", "keep-3")
	})
	for _, name := range []string{"drop", "keep"} {
		redistest.WaitFor(t, 30*time.Second, "finalizer on "+name, func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, name)
			if err != nil {
				return err
			}
			if !containsString(rf.Finalizers, haredisv1.Finalizer) {
				return errors.New("no finalizer yet")
			}
			return k8sClient.Delete(ctx, rf)
		})
	}
	for _, name := range []string{"drop", "keep"} {
		redistest.WaitFor(t, 30*time.Second, name+" gone", func(ctx context.Context) error {
			_, err := getRF(ctx, ns, name)
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %v", err)
		})
	}
	for i := 1; i <= 3; i++ {
		pvc := &corev1.PersistentVolumeClaim{}
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("drop-%d", i)}, pvc)
		if err == nil && pvc.DeletionTimestamp == nil {
			t.Errorf("PVC drop-%d not deleted although keepAfterDeletion is false", i)
		}
		pvc = &corev1.PersistentVolumeClaim{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("keep-%d", i)}, pvc); err != nil || pvc.DeletionTimestamp != nil {
			t.Errorf("PVC keep-%d deleted (err %v) although keepAfterDeletion defaults to true", i, err)
		}
	}
}

// TestMasterNamesDifferAcrossNamespaces: two RedisFailovers named app in two
// namespaces get different master names in status and instance.json, and
// sentinel identities derived from them.
func TestMasterNamesDifferAcrossNamespaces(t *testing.T) {
	a, b := newNamespace(t, "twin"), newNamespace(t, "twin")
	startOperator(t, nil, a, b)
	createRF(t, a, "app", nil)
	createRF(t, b, "app", nil)
	names := map[string]string{}
	for _, ns := range []string{a, b} {
		redistest.WaitFor(t, 60*time.Second, "master name in "+ns, func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			if rf.Status.MasterName == "" {
				return errors.New("no master name yet")
			}
			cm := &corev1.ConfigMap{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-instance"}, cm); err != nil {
				return err
			}
			cfg, err := instanceconfig.Parse([]byte(cm.Data[specs.InstanceConfigKey]))
			if err != nil {
				return err
			}
			if cfg.MasterName != rf.Status.MasterName {
				return fmt.Errorf("instance.json names %q, status %q", cfg.MasterName, rf.Status.MasterName)
			}
			names[ns] = cfg.MasterName
			return nil
		})
	}
	if names[a] == names[b] {
		t.Errorf("both RedisFailovers named app share the master name %q", names[a])
	}
}

// TestMissingPasswordSecretIsActionable: a passwordSecret that does not
// exist gives Ready=False naming the Secret and the key; creating it lets
// the reconcile go on and the connection Secret carries that password.
func TestMissingPasswordSecretIsActionable(t *testing.T) {
	ns := newNamespace(t, "badinput")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		rf.Spec.Auth.PasswordSecret = &haredisv1.SecretKeySelector{Name: "mine", Key: "pw"}
	})
	redistest.WaitFor(t, 30*time.Second, "an actionable Ready condition", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
		if c == nil || c.Reason != haredisv1.ReasonPasswordSecretMissing {
			return fmt.Errorf("condition %+v", c)
		}
		if !strings.Contains(c.Message, "Secret mine") || !strings.Contains(c.Message, "key pw") || rf.Status.Phase != haredisv1.PhasePending {
			return fmt.Errorf("message %q phase %q does not tell what to do", c.Message, rf.Status.Phase)
		}
		return nil
	})
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-1"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod app-1 exists (err %v) although the password is missing", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"}, StringData: map[string]string{"pw": "user-chosen"}}
	if err := k8sClient.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the connection Secret with the user's password", func(ctx context.Context) error {
		conn := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-connection"}, conn); err != nil {
			return err
		}
		if string(conn.Data[specs.ConnPassword]) != "user-chosen" {
			return errors.New("wrong password in the connection secret")
		}
		return podsExist(ctx, ns, "app-1")
	})
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-auth"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret app-auth generated (err %v) although the user gave a password", err)
	}
}

// TestAuthDisabledWarns: auth off is allowed and shown as a condition.
func TestAuthDisabledWarns(t *testing.T) {
	ns := newNamespace(t, "noauth")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Auth.Enabled = ptr.To(false) })
	redistest.WaitFor(t, 30*time.Second, "AuthDisabled=True", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionAuthDisabled)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spec.auth.enabled") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	pod := &corev1.Pod{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-1"}, pod); err != nil {
		t.Fatal(err)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name != "auth" {
			continue
		}
		for _, it := range v.Secret.Items {
			if it.Key == specs.PasswordKey {
				t.Error("pod mounts a password although auth is off")
			}
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestProxyCanBeTurnedOff: with spec.proxy.enabled false the proxy
// Deployment and its budget go, and the Service NAME (the REDIS_URL)
// selects the primary itself; turned on again, the proxy comes back.
func TestProxyCanBeTurnedOff(t *testing.T) {
	ns := newNamespace(t, "proxy")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", nil)
	selectorOfApp := func(ctx context.Context) (map[string]string, error) {
		svc := &corev1.Service{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, svc); err != nil {
			return nil, err
		}
		return svc.Spec.Selector, nil
	}
	proxyExists := func(ctx context.Context) (bool, error) {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-proxy"}, &appsv1.Deployment{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	redistest.WaitFor(t, 30*time.Second, "the proxy Deployment", func(ctx context.Context) error {
		if ok, err := proxyExists(ctx); !ok {
			return fmt.Errorf("no proxy Deployment (%v)", err)
		}
		return nil
	})
	setEnabled := func(on bool) {
		redistest.WaitFor(t, 10*time.Second, "spec update", func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			rf.Spec.Proxy.Enabled = &on
			return k8sClient.Update(ctx, rf)
		})
	}
	setEnabled(false)
	redistest.WaitFor(t, 30*time.Second, "no proxy, and the Service app on the primary", func(ctx context.Context) error {
		if ok, err := proxyExists(ctx); ok || err != nil {
			return fmt.Errorf("proxy Deployment still there (%v)", err)
		}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-proxy"}, &policyv1.PodDisruptionBudget{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("proxy budget still there (%v)", err)
		}
		sel, err := selectorOfApp(ctx)
		if err != nil {
			return err
		}
		if sel[haredisv1.LabelRole] != "primary" || sel[specs.LabelComponent] != "redis" {
			return fmt.Errorf("Service app selects %v", sel)
		}
		return nil
	})
	setEnabled(true)
	redistest.WaitFor(t, 30*time.Second, "the proxy back behind the Service app", func(ctx context.Context) error {
		if ok, err := proxyExists(ctx); !ok {
			return fmt.Errorf("no proxy Deployment (%v)", err)
		}
		sel, err := selectorOfApp(ctx)
		if err != nil {
			return err
		}
		if sel[specs.LabelComponent] != "proxy" {
			return fmt.Errorf("Service app selects %v", sel)
		}
		return nil
	})
}

// TestVolumeGrowthRefused: when the API server refuses to resize the PVCs
// (here because nothing binds them; in a cluster typically because the
// storage class cannot grow volumes) the volumes keep their size and the
// StorageResized condition carries the refusal and what to do.
func TestVolumeGrowthRefused(t *testing.T) {
	ns := newNamespace(t, "grow")
	ctx := context.Background()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fixed-" + ns}, Provisioner: "example.com/none", AllowVolumeExpansion: ptr.To(false)}
	if err := k8sClient.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), class) })
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Storage.StorageClassName = ptr.To(class.Name) })
	redistest.WaitFor(t, 30*time.Second, "PVCs app-1..3", func(ctx context.Context) error {
		for _, n := range []string{"app-1", "app-2", "app-3"} {
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &corev1.PersistentVolumeClaim{}); err != nil {
				return err
			}
		}
		return nil
	})
	redistest.WaitFor(t, 10*time.Second, "spec update", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		q := resource.MustParse("2Gi")
		rf.Spec.Redis.Storage.Size = &q
		return k8sClient.Update(ctx, rf)
	})
	redistest.WaitFor(t, 30*time.Second, "StorageResized False with the API server's refusal", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionStorageResized)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != haredisv1.ReasonResizeRefused || !strings.Contains(c.Message, "app-1") ||
			!strings.Contains(c.Message, "allowVolumeExpansion") || rf.Status.ObservedGeneration != rf.Generation {
			return fmt.Errorf("condition %+v", c)
		}
		t.Logf("StorageResized: %s", c.Message)
		return nil
	})
	pvc := &corev1.PersistentVolumeClaim{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-1"}, pvc); err != nil {
		t.Fatal(err)
	}
	if got := pvc.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
		t.Errorf("PVC app-1 requests %s after a refused resize, want 1Gi", got)
	}
}

// TestObjectWithoutLabelsIsAdopted: the operator caches only the objects
// it labels as its own. An object of one of its names made by hand without
// those labels (here the instance.json ConfigMap, before the RedisFailover
// exists) is read from the API server, adopted and labelled, not refused
// with AlreadyExists forever; and an unrelated Secret stays out of reach of
// the cache while the user's password Secret, unlabelled, is still read.
func TestObjectWithoutLabelsIsAdopted(t *testing.T) {
	ns := newNamespace(t, "adopt")
	ctx := context.Background()
	stray := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-instance"}, Data: map[string]string{"instance.json": "{}"}}
	if err := k8sClient.Create(ctx, stray); err != nil {
		t.Fatal(err)
	}
	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"}, StringData: map[string]string{"pw": "user-chosen"}}
	if err := k8sClient.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		rf.Spec.Auth.PasswordSecret = &haredisv1.SecretKeySelector{Name: "mine", Key: "pw"}
	})
	redistest.WaitFor(t, 60*time.Second, "the ConfigMap adopted, labelled and holding instance.json", func(ctx context.Context) error {
		cm := &corev1.ConfigMap{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-instance"}, cm); err != nil {
			return err
		}
		if cm.Labels[specs.LabelManagedBy] != specs.ManagedBy {
			return fmt.Errorf("labels %v", cm.Labels)
		}
		if !strings.Contains(cm.Data["instance.json"], `"clusterName"`) {
			return fmt.Errorf("instance.json %q", cm.Data["instance.json"])
		}
		return nil
	})
	redistest.WaitFor(t, 30*time.Second, "the connection Secret with the user's password", func(ctx context.Context) error {
		s := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-connection"}, s); err != nil {
			return err
		}
		if string(s.Data[specs.ConnPassword]) != "user-chosen" {
			return fmt.Errorf("password %q", s.Data[specs.ConnPassword])
		}
		return nil
	})
}

// TestNetworkPoliciesFollowTheSpec: one NetworkPolicy per component, the
// proxy's gone with the proxy, all gone when spec.networkPolicy.enabled is
// false, and back when it is true again.
func TestNetworkPoliciesFollowTheSpec(t *testing.T) {
	ns := newNamespace(t, "netpol")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", nil)
	expect := func(what string, want ...string) {
		t.Helper()
		redistest.WaitFor(t, 30*time.Second, what, func(ctx context.Context) error {
			var list networkingv1.NetworkPolicyList
			if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
				return err
			}
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			var got []string
			for _, p := range list.Items {
				if err := isControlledBy(&p, rf); err != nil {
					return err
				}
				if p.Spec.PodSelector.MatchLabels[specs.LabelInstance] != "app" || len(p.Spec.Ingress) == 0 {
					return fmt.Errorf("NetworkPolicy %s selects %v with %d rules", p.Name, p.Spec.PodSelector.MatchLabels, len(p.Spec.Ingress))
				}
				got = append(got, p.Name)
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("NetworkPolicies %v, want %v", got, want)
			}
			return nil
		})
	}
	update := func(change func(*haredisv1.RedisFailover)) {
		redistest.WaitFor(t, 10*time.Second, "spec update", func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			change(rf)
			return k8sClient.Update(ctx, rf)
		})
	}
	expect("a NetworkPolicy per component", "app-proxy", "app-redis", "app-sentinel")
	update(func(rf *haredisv1.RedisFailover) { rf.Spec.Proxy.Enabled = ptr.To(false) })
	expect("the proxy's NetworkPolicy removed with the proxy", "app-redis", "app-sentinel")
	update(func(rf *haredisv1.RedisFailover) { rf.Spec.NetworkPolicy.Enabled = ptr.To(false) })
	expect("no NetworkPolicy when disabled")
	update(func(rf *haredisv1.RedisFailover) {
		rf.Spec.NetworkPolicy.Enabled = ptr.To(true)
		rf.Spec.Proxy.Enabled = ptr.To(true)
	})
	expect("every NetworkPolicy back", "app-proxy", "app-redis", "app-sentinel")
}
