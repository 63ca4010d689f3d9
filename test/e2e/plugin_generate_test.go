package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/test/controlplane"
)

// TestPluginGeneratedHelmTemplateBecomesReady: what `kubectl haredis
// generate --helm` writes into an application's chart renders with helm,
// and the RedisFailover it renders, applied to the bed, becomes Ready with
// the parameters asked for.
func TestPluginGeneratedHelmTemplateBecomesReady(t *testing.T) {
	t.Parallel() // with the others that mostly wait: see TestMain
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildPlugin(t)
	chart := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(chart, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: shop\nversion: 0.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := exec.CommandContext(ctx, bin, "generate", "cache", "--helm", chart, "--replicas", "2", "--proxy=false",
		"--set-parameter", "notify-keyspace-events=gxE", "--kubeconfig", "/nonexistent")
	values, err := gen.Output()
	if err != nil {
		t.Fatalf("generate --helm: %v\n%s", err, stderrOf(err))
	}
	if err := os.WriteFile(filepath.Join(chart, "values.yaml"), values, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	helm := exec.CommandContext(ctx, "go", "tool", "-modfile=hack/tools/go.mod", "helm", "template", "shop", chart)
	helm.Dir = root
	helm.Stdout, helm.Stderr = &out, &errOut
	helm.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if err := helm.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, errOut.String())
	}
	ns := newNamespace(t, "helm")
	var rf *haredisv1.RedisFailover
	for _, doc := range strings.Split(out.String(), "\n---") {
		if strings.Contains(doc, "kind: RedisFailover") {
			rf = &haredisv1.RedisFailover{}
			if err := yaml.UnmarshalStrict([]byte(doc), rf); err != nil {
				t.Fatalf("rendered RedisFailover: %v\n%s", err, doc)
			}
		}
	}
	if rf == nil {
		t.Fatalf("helm rendered no RedisFailover:\n%s", out.String())
	}
	rf.Namespace = ns
	if err := kc.Create(ctx, rf); err != nil {
		t.Fatal(err)
	}
	ready := waitRFReady(t, ns, rf.Name, 5*time.Minute)
	if err := onEveryInstance(ready, "notify-keyspace-events", "gxE"); err != nil {
		t.Errorf("the rendered parameter: %v", err)
	}
	if n := len(ready.Status.Instances); n != 2 {
		t.Errorf("%d instances, want 2", n)
	}
}
