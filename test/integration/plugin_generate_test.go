package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/test/controlplane"
)

// What generate prints is accepted by the API server as it is, and so is
// what its Helm template renders with the values it prints.
func TestGeneratedManifestsApply(t *testing.T) {
	dir := t.TempDir()
	defaults := filepath.Join(dir, "defaults.yaml")
	if err := os.WriteFile(defaults, []byte("redis:\n  storage:\n    size: 2Gi\n  config:\n    maxmemory-policy: allkeys-lru\nsentinel:\n  downAfter: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"minimal": nil,
		"flags": {"--replicas", "2", "--storage-size", "5Gi", "--storage-class", "fast", "--persistence", "RDB", "--proxy=false",
			"--sentinels", "5", "--engine", "redis", "--set-parameter", "notify-keyspace-events=gxE"},
		"defaults": {"--defaults", defaults, "--set-parameter", "notify-keyspace-events=gxE", "--storage-size", "3Gi"},
		"backup":   {"--backup-store", "https://minio.example:9000/backups/redis", "--backup-credentials", "s3", "--backup-schedule", "@daily"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t, "generate")
			stdout, stderr, err := kubectlHaredis(t, cp.KubeconfigPath, append([]string{"generate", "gen", "-n", ns}, args...)...)
			if err != nil {
				t.Fatalf("generate: %v\n%s", err, stderr)
			}
			plain := applyManifest(t, stdout, "")

			chart := filepath.Join(t.TempDir(), "chart")
			if err := os.MkdirAll(chart, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: shop\nversion: 0.1.0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			values, stderr, err := kubectlHaredis(t, cp.KubeconfigPath, append([]string{"generate", "gen", "--helm", chart}, args...)...)
			if err != nil {
				t.Fatalf("generate --helm: %v\n%s", err, stderr)
			}
			if err := os.WriteFile(filepath.Join(chart, "values.yaml"), []byte(values), 0o644); err != nil {
				t.Fatal(err)
			}
			rendered := helmTemplate(t, chart, "shop")
			fromHelm := applyManifest(t, rendered, newNamespace(t, "generate-helm"))
			if diff := cmp.Diff(plain.Spec, fromHelm.Spec); diff != "" {
				t.Errorf("the Helm template renders another spec than generate prints (-generate +helm):\n%s", diff)
			}
			// The env entries of the values give an application every key
			// of the connection Secret.
			var v map[string]map[string]any
			if err := yaml.Unmarshal([]byte(values), &v); err != nil {
				t.Fatal(err)
			}
			if env, _ := v["haredis"]["env"].([]any); len(env) != 7 {
				t.Errorf("the values hold %d env entries, want 7:\n%s", len(env), values)
			}
			if off := helmTemplate(t, chart, "off", "--set", "haredis.enabled=false"); strings.Contains(off, "kind: RedisFailover") {
				t.Errorf("haredis.enabled=false still renders the RedisFailover:\n%s", off)
			}
		})
	}
}

// applyManifest creates the RedisFailover of a YAML manifest (in
// namespace ns when not empty) and returns it as the API server stored it
// (defaults filled).
func applyManifest(t *testing.T, manifest, ns string) *haredisv1.RedisFailover {
	t.Helper()
	rf := &haredisv1.RedisFailover{}
	if err := yaml.UnmarshalStrict([]byte(manifest), rf); err != nil {
		t.Fatalf("cannot read the manifest: %v\n%s", err, manifest)
	}
	if ns != "" {
		rf.Namespace = ns
	}
	if err := k8sClient.Create(context.Background(), rf); err != nil {
		t.Fatalf("the API server refuses the manifest: %v\n%s", err, manifest)
	}
	got := &haredisv1.RedisFailover{}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(rf), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// helmTemplate renders a chart with the helm of hack/tools.
func helmTemplate(t *testing.T, chart, release string, args ...string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command("go", append([]string{"tool", "-modfile=hack/tools/go.mod", "helm", "template", release, chart}, args...)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}
