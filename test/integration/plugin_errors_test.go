package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/test/controlplane"
)

// The errors a user meets say what is wrong and what to do: an unknown
// RedisFailover lists the others, a refused permission names the verb and
// the resource, a RedisFailover without a primary quotes the condition.
func TestPluginErrors(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "plugin-errors")
	kc := cp.KubeconfigPath
	reportedRF(t, ns, "pw")

	_, stderr, err := kubectlHaredis(t, kc, "status", "ap", "-n", ns)
	if err == nil || !strings.Contains(stderr, `RedisFailover "ap" not found in namespace `+ns+"; it has app") {
		t.Errorf("unknown RedisFailover: %v\n%s", err, stderr)
	}
	_, stderr, err = kubectlHaredis(t, kc, "url", "app", "-n", "default")
	if err == nil || !strings.Contains(stderr, `not found in namespace default, which has none`) && !strings.Contains(stderr, `not found in namespace default; it has`) {
		t.Errorf("unknown RedisFailover in another namespace: %v\n%s", err, stderr)
	}

	// A user who may read RedisFailovers and nothing else.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "rf-reader", Namespace: ns}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{haredisv1.GroupVersion.Group}, Resources: []string{"redisfailovers"}, Verbs: []string{"get", "list"},
	}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rf-reader", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rf-reader"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "reader"}}}
	if err := k8sClient.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	reader, err := cp.WriteKubeconfig("reader", "reader")
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := cp.WriteKubeconfig("nobody", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	// RBAC takes effect within a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stdout, stderr, err := kubectlHaredis(t, reader, "url", "app", "-n", ns)
		if err == nil {
			if !strings.Contains(stdout, "redis://default:********@app.") {
				t.Errorf("url as reader: %s", stdout)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("url as reader: %v\n%s", err, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, stderr, err = kubectlHaredis(t, reader, "url", "app", "-n", ns, "--show-password")
	if err == nil || !strings.Contains(stderr, "permission denied: you may not get secrets in namespace "+ns) || !strings.Contains(stderr, "kubectl auth can-i get secrets -n "+ns) {
		t.Errorf("url --show-password without the right to read Secrets: %v\n%s", err, stderr)
	}
	stdout, stderr, err := kubectlHaredis(t, reader, "status", "app", "-n", ns)
	if err != nil || !strings.Contains(stdout, "note: pods unknown: permission denied: you may not list pods in namespace "+ns) {
		t.Errorf("status without the right to list pods: %v\n%s%s", err, stdout, stderr)
	}
	_, stderr, err = kubectlHaredis(t, nobody, "status", "app", "-n", ns)
	if err == nil || !strings.Contains(stderr, "permission denied: you may not get redisfailovers in namespace "+ns) {
		t.Errorf("status without any right: %v\n%s", err, stderr)
	}
	_, stderr, err = kubectlHaredis(t, reader, "promote", "app", "app-1", "-n", ns, "--wait", "0")
	if err == nil || !strings.Contains(stderr, "permission denied: you may not patch redisfailovers/status in namespace "+ns) {
		t.Errorf("promote without the right to patch the status: %v\n%s", err, stderr)
	}

	// No primary yet: sentinel-url warns while the primary waits, and
	// fails while the operator has reported nothing.
	waiting := createRF(t, ns, "waiting", nil)
	waiting.Status.CurrentPrimary = "waiting-1"
	waiting.Status.Conditions = []metav1.Condition{{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonPrimaryWaiting,
		Message: "waiting-1 keeps redis-server stopped for 3s: it waits for waiting-2", LastTransitionTime: metav1.Now()}}
	if err := k8sClient.Status().Update(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = kubectlHaredis(t, kc, "sentinel-url", "waiting", "-n", ns, "--format", "redis-py")
	if err == nil || !strings.Contains(stderr, "RedisFailover waiting has no primary that takes writes yet: Ready=False (PrimaryWaiting): waiting-1 keeps redis-server stopped") {
		t.Errorf("sentinel-url without a primary: %v\n%s", err, stderr)
	}
	createRF(t, ns, "fresh", nil)
	_, stderr, err = kubectlHaredis(t, kc, "url", "fresh", "-n", ns)
	if err == nil || !strings.Contains(stderr, "RedisFailover fresh has no primary yet: the operator has not reported on it") {
		t.Errorf("url before the operator reported: %v\n%s", err, stderr)
	}
}

// A cluster without the CRD says so instead of a discovery error.
func TestPluginWithoutTheCRD(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bare, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		t.Fatalf("cannot start a control plane without the CRD: %v", err)
	}
	defer func() {
		if err := bare.Stop(); err != nil {
			t.Errorf("cannot stop the control plane: %v", err)
		}
	}()
	for _, args := range [][]string{{"status", "app"}, {"url", "app"}, {"sentinel-url", "app", "--format", "env"}} {
		_, stderr, err := kubectlHaredis(t, bare.KubeconfigPath, args...)
		if err == nil || !strings.Contains(stderr, "this cluster has no RedisFailover resource: the haredis CRD (redisfailovers.haredis.dev) is not installed") {
			t.Errorf("%v: %v\n%s", args, err, stderr)
		}
	}
}
