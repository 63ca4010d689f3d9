package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/redistest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/operatorbed"
)

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := kc.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	retireNamespace(t, ns)
	return ns.Name
}

// retireNamespace, at the end of the test, logs the pods of a failed test
// and deletes the namespace, so that its RedisFailovers stop loading the
// bed for the tests that follow (the deletion is not waited for).
func retireNamespace(t *testing.T, ns *corev1.Namespace) {
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, ns.Name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kc.Delete(ctx, ns, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("cannot delete namespace %s: %v", ns.Name, err)
		}
	})
}

// dumpPods logs what a failed test needs to tell why: every pod of the
// namespace with its phase, conditions and containers, and the end of each
// container's log.
func dumpPods(t *testing.T, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := env.Kubectl(ctx, "get", "pods", "-o", "wide", "-n", ns)
	t.Logf("pods of %s (%v):\n%s", ns, err, out)
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Logf("cannot list pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		st, _ := json.Marshal(p.Status.ContainerStatuses)
		t.Logf("pod %s: phase %s, deleting %v, conditions %v, containers %s", p.Name, p.Status.Phase, p.DeletionTimestamp != nil, p.Status.Conditions, st)
		for _, c := range p.Spec.Containers {
			logs, err := env.Kubectl(ctx, "logs", "-n", ns, p.Name, "-c", c.Name, "--tail=30")
			t.Logf("log of %s/%s (%v):\n%s", p.Name, c.Name, err, logs)
		}
	}
}

func getRF(ctx context.Context, ns, name string) (*haredisv1.RedisFailover, error) {
	rf := &haredisv1.RedisFailover{}
	return rf, kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rf)
}

// newReadyRF creates the RedisFailover app in a new namespace named after
// prefix, with the schema's defaults and whatever mutate sets, waits until
// it is Ready and returns it with its namespace and password.
func newReadyRF(t *testing.T, prefix string, mutate func(*haredisv1.RedisFailover)) (string, *haredisv1.RedisFailover, string) {
	t.Helper()
	ns := newNamespace(t, prefix)
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	if mutate != nil {
		mutate(rf)
	}
	if err := kc.Create(context.Background(), rf); err != nil {
		t.Fatal(err)
	}
	rf = waitRFReady(t, ns, "app", 5*time.Minute)
	return ns, rf, password(t, ns, "app")
}

// waitRFReady waits for phase Ready with every instance ready.
func waitRFReady(t *testing.T, ns, name string, timeout time.Duration) *haredisv1.RedisFailover {
	t.Helper()
	var rf *haredisv1.RedisFailover
	redistest.WaitFor(t, timeout, name+" Ready", func(ctx context.Context) error {
		var err error
		if rf, err = getRF(ctx, ns, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || rf.Status.ObservedGeneration != rf.Generation {
			return fmt.Errorf("phase %s, Ready %+v", rf.Status.Phase, c)
		}
		return nil
	})
	return rf
}

func password(t *testing.T, ns, name string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := kc.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name + "-auth"}, s); err != nil {
		t.Fatal(err)
	}
	return string(s.Data["password"])
}

func getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	p := &corev1.Pod{}
	return p, kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)
}

// instanceStatus reads GET /status of the instance manager of pod with
// its RedisFailover's manager token.
func instanceStatus(ctx context.Context, pod *corev1.Pod) (*instanceapi.Status, error) {
	c, err := env.InstanceClient(ctx, pod.Namespace, pod.Labels[specs.LabelInstance], pod.Status.PodIP)
	if err != nil {
		return nil, err
	}
	return c.Status(ctx)
}

func podAddr(p *corev1.Pod) string { return net.JoinHostPort(p.Status.PodIP, strconv.Itoa(6379)) }

// The images of the engines the bed runs: Valkey 8.0 (the default of
// spec.redis.image) and Redis 7.0.
const (
	valkeyImage = "valkey/valkey:8.0"
	redisImage  = "redis:7.0"
)

// forEachEngine runs test once per engine, as a named subtest.
func forEachEngine(t *testing.T, test func(t *testing.T, image string)) {
	for _, e := range []struct{ name, image string }{{"valkey", valkeyImage}, {"redis", redisImage}} {
		t.Run(e.name, func(t *testing.T) { test(t, e.image) })
	}
}

// withImage sets spec.redis.image.
func withImage(image string) func(*haredisv1.RedisFailover) {
	return func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Image = image }
}

// withoutConfigOperator scales the operator installed from config/ to zero
// until the test ends, for tests that install their own; they must not run
// in parallel with others.
func withoutConfigOperator(t *testing.T) {
	t.Helper()
	scale := func(n int) {
		t.Helper()
		ctx := context.Background()
		if out, err := env.Kubectl(ctx, "-n", operatorbed.OperatorNamespace, "scale", "deployment/"+operatorbed.OperatorDeployment, fmt.Sprintf("--replicas=%d", n)); err != nil {
			t.Fatalf("scale the operator of config/: %v\n%s", err, out)
		}
		redistest.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d operator pods of config/", n), func(ctx context.Context) error {
			pods, err := env.OperatorPods(ctx)
			if err != nil {
				return err
			}
			if len(pods) != n {
				return fmt.Errorf("%d pods", len(pods))
			}
			for _, p := range pods {
				if !podReady(&p) {
					return fmt.Errorf("%s not ready", p.Name)
				}
			}
			return nil
		})
	}
	scale(0)
	t.Cleanup(func() { scale(1) })
}

// adminPassword reads the admin user's password of RedisFailover ns/name
// (what the operator and the instance managers use).
func adminPassword(ctx context.Context, ns, name string) (string, error) {
	s := &corev1.Secret{}
	if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-internal"}, s); err != nil {
		return "", err
	}
	return string(s.Data[acl.AdminPasswordKey]), nil
}

// adminClient connects to addr as the admin user of RedisFailover ns/name,
// for what the application user may not run (CONFIG GET, CONFIG SET).
func adminClient(ctx context.Context, ns, name, addr string) (*redis.Client, error) {
	pw, err := adminPassword(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(&redis.Options{Addr: addr, Username: acl.AdminUser, Password: pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1}), nil
}

// mustRF gets RedisFailover ns/name or fails the test.
func mustRF(t *testing.T, ns, name string) *haredisv1.RedisFailover {
	t.Helper()
	rf, err := getRF(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return rf
}
