package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/test/controlplane"
)

// TestHelmChartInstalls installs the operator with the Helm chart, the
// way a platform team does (in its own namespace, limited to one watched
// namespace), in place of the one config/ installed, and creates a
// RedisFailover that becomes Ready under it.
func TestHelmChartInstalls(t *testing.T) {
	ctx := context.Background()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	helm := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "go", append([]string{"tool", "-modfile=hack/tools/go.mod", "helm", "--kubeconfig", env.Bed.KubeconfigPath}, args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	withoutConfigOperator(t)

	ns := newNamespace(t, "chart")
	out := helm("install", "haredis", "charts/haredis", "--namespace", "haredis-chart", "--create-namespace",
		"--set", "replicas=1", "--set", "watchNamespaces={"+ns+"}", "--wait", "--timeout", "3m")
	t.Cleanup(func() {
		helm("uninstall", "haredis", "--namespace", "haredis-chart", "--wait", "--timeout", "2m")
		_, _ = env.Kubectl(context.Background(), "delete", "namespace", "haredis-chart", "--wait=false")
	})
	if !strings.Contains(out, "watching "+ns) {
		t.Errorf("the notes do not say what the operator watches:\n%s", out)
	}
	d := &appsv1.Deployment{}
	if err := kc.Get(ctx, client.ObjectKey{Namespace: "haredis-chart", Name: "haredis"}, d); err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 1 {
		t.Fatalf("the chart's operator: %d ready replicas", d.Status.ReadyReplicas)
	}

	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	rf.Spec.Redis.Replicas = 2
	if err := kc.Create(ctx, rf); err != nil {
		t.Fatal(err)
	}
	rf = waitRFReady(t, ns, "app", 4*time.Minute)
	p, err := getPod(ctx, ns, rf.Status.CurrentPrimary)
	if err != nil {
		t.Fatal(err)
	}
	c := plainClient(podAddr(p), password(t, ns, "app"))
	defer c.Close()
	if err := c.Set(ctx, "installed-with-helm", "1", 0).Err(); err != nil {
		t.Fatalf("a write to the primary: %v", err)
	}
}
