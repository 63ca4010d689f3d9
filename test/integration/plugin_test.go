package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/controlplane"
)

var pluginBinary = sync.OnceValues(func() (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "kubectl-haredis-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kubectl-haredis")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-haredis")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return bin, nil
})

// kubectlHaredis runs the plugin's binary against the control plane with
// kubeconfig and returns its output streams and error.
func kubectlHaredis(t *testing.T, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, err := pluginBinary()
	if err != nil {
		t.Fatalf("cannot build kubectl-haredis: %v", err)
	}
	var o, e bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+t.TempDir(), "HOME="+t.TempDir())
	err = cmd.Run()
	return o.String(), e.String(), err
}

// reportedRF creates RedisFailover ns/app and writes the status, the
// connection Secret, pods and nodes the operator and the kubelets would:
// three instances on three zones, app-2 primary.
func reportedRF(t *testing.T, ns string, password string) *haredisv1.RedisFailover {
	t.Helper()
	ctx := context.Background()
	rf := createRF(t, ns, "app", nil)
	now := metav1.Now()
	rf.Status = haredisv1.RedisFailoverStatus{
		ObservedGeneration: rf.Generation, Phase: haredisv1.PhaseReady, CurrentPrimary: "app-2", TargetPrimary: "app-2",
		MasterName: rf.MasterName(), ReadyInstances: 3, ReadyProxies: 1, Endpoints: specs.Endpoints(rf),
		Instances: []haredisv1.InstanceStatus{
			{Name: "app-1", Role: haredisv1.RoleReplica, Ready: true, ReplicationOffset: 4096, Storage: "1Gi", Server: "valkey 8.0.1"},
			{Name: "app-2", Role: haredisv1.RolePrimary, Ready: true, ReplicationOffset: 4096, Storage: "1Gi", Server: "valkey 8.0.1"},
			{Name: "app-3", Role: haredisv1.RoleReplica, Ready: true, ReplicationOffset: 4000, LagBytes: 96, Storage: "1Gi", Server: "valkey 8.0.1"},
		},
		Conditions: []metav1.Condition{
			{Type: haredisv1.ConditionReady, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonReady, Message: "the primary app-2 takes writes", LastTransitionTime: now},
			{Type: haredisv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonNotDegraded, Message: "all serve", LastTransitionTime: now},
		},
	}
	if err := k8sClient.Status().Update(ctx, rf); err != nil {
		t.Fatalf("cannot write the status: %v", err)
	}
	if err := k8sClient.Create(ctx, specs.ConnectionSecret(rf, password, nil)); err != nil {
		t.Fatal(err)
	}
	// No controller-manager makes the default service account here.
	if err := k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"app-1", "app-2", "app-3", "app-sentinel-1", "app-proxy-abc"} {
		component := specs.ComponentRedis
		switch {
		case strings.Contains(n, "sentinel"):
			component = specs.ComponentSentinel
		case strings.Contains(n, "proxy"):
			component = specs.ComponentProxy
		}
		node := ensureNode(t, []string{"plugin-node-a", "plugin-node-b", "plugin-node-c"}[i%3], []string{"zone-a", "zone-b", "zone-c"}[i%3])
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns, Labels: specs.Labels(rf, component)},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: component, Image: "valkey/valkey:8.0"}}},
		}
		if err := k8sClient.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: component, Image: "valkey/valkey:8.0", ImageID: "x", RestartCount: int32(i % 2), Ready: true}}}
		if err := k8sClient.Status().Update(ctx, p); err != nil {
			t.Fatalf("cannot write the status of pod %s: %v", n, err)
		}
	}
	return rf
}

func ensureNode(t *testing.T, name, zone string) string {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}}
	if err := k8sClient.Create(context.Background(), n); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	return name
}

// The plugin reads what the operator wrote: url, sentinel-url and status
// in process and through the binary, and completion of names.
func TestPluginReadsRealObjects(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "plugin")
	const password = "pw-through/the:api+server"
	rf := reportedRF(t, ns, password)
	kc := cp.KubeconfigPath

	var out, errOut bytes.Buffer
	io := genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}
	if err := plugin.URL(ctx, k8sClient, io, ns, "app", plugin.URLOptions{ShowPassword: true}); err != nil {
		t.Fatal(err)
	}
	want := "redis://default:pw-through%2Fthe%3Aapi+server@app." + ns + ".svc.cluster.local:6379\n"
	if out.String() != want {
		t.Errorf("url --show-password printed %q, want %q", out.String(), want)
	}

	stdout, stderr, err := kubectlHaredis(t, kc, "url", "app", "-n", ns, "-o", "json")
	if err != nil {
		t.Fatalf("url -o json: %v\n%s", err, stderr)
	}
	var u plugin.URLResult
	if err := json.Unmarshal([]byte(stdout), &u); err != nil || u.URL != "redis://default:"+plugin.Hidden+"@app."+ns+".svc.cluster.local:6379" || u.PasswordShown {
		t.Errorf("url -o json: %+v, %v\n%s", u, err, stdout)
	}

	stdout, stderr, err = kubectlHaredis(t, kc, "sentinel-url", "app", "-n", ns, "--format", "go-redis", "--show-password")
	if err != nil {
		t.Fatalf("sentinel-url: %v\n%s", err, stderr)
	}
	opts, err := redis.ParseFailoverURL(strings.TrimSpace(stdout))
	if err != nil || opts.MasterName != rf.MasterName() || opts.Password != password || opts.SentinelPassword != password ||
		len(opts.SentinelAddrs) != 1 || opts.SentinelAddrs[0] != "app-sentinel."+ns+".svc.cluster.local:26379" {
		t.Errorf("sentinel-url --format go-redis: %+v, %v\n%s", opts, err, stdout)
	}

	stdout, stderr, err = kubectlHaredis(t, kc, "sentinel-url", "app", "-n", ns, "--format", "env", "-o", "yaml")
	if err != nil || !strings.Contains(stdout, "REDIS_PASSWORD: '"+plugin.Hidden+"'") {
		t.Errorf("sentinel-url --format env -o yaml: %v\n%s%s", err, stdout, stderr)
	}

	stdout, stderr, err = kubectlHaredis(t, kc, "status", "app", "-n", ns, "-o", "json")
	if err != nil {
		t.Fatalf("status -o json: %v\n%s", err, stderr)
	}
	var r plugin.StatusReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("status -o json does not parse: %v\n%s", err, stdout)
	}
	if r.Verdict.State != plugin.StateReady || r.Primary != "app-2" || len(r.Instances) != 3 || r.Instances[1].Zone != "zone-b" ||
		r.Instances[1].Node != "plugin-node-b" || r.Instances[1].Restarts != 1 || len(r.Sentinels.Pods) != 1 || r.Proxies == nil || r.Proxies.Ready != 1 || len(r.Warnings) > 0 {
		t.Errorf("status -o json: %+v", r)
	}
	stdout, _, err = kubectlHaredis(t, kc, "status", "app", "-n", ns)
	if err != nil || !strings.HasPrefix(stdout, "app ("+ns+") READY: primary app-2 takes writes") || strings.Contains(stdout, "\x1b[") {
		t.Errorf("status: %v\n%s", err, stdout)
	}
	stdout, _, _ = kubectlHaredis(t, kc, "status", "app", "-n", ns, "--color", "always")
	if !strings.Contains(stdout, "\x1b[32m") {
		t.Errorf("status --color always has no colour:\n%s", stdout)
	}

	// Completion of RedisFailover and instance names (replicas only for
	// promote), as the shells ask for it.
	createRF(t, ns, "cache", nil)
	stdout, _, _ = kubectlHaredis(t, kc, "__complete", "status", "-n", ns, "")
	if got := completions(stdout); strings.Join(got, " ") != "app cache" {
		t.Errorf("completion of status: %q", stdout)
	}
	stdout, _, _ = kubectlHaredis(t, kc, "__complete", "promote", "-n", ns, "app", "")
	if got := completions(stdout); strings.Join(got, " ") != "app-1 app-3" {
		t.Errorf("completion of promote app: %q", stdout)
	}
	stdout, _, _ = kubectlHaredis(t, kc, "__complete", "sentinel-url", "app", "--format", "")
	if got := completions(stdout); len(got) != len(plugin.Formats()) {
		t.Errorf("completion of --format: %q", stdout)
	}
}

// completions are the candidates of cobra's __complete output.
func completions(out string) []string {
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.HasPrefix(l, ":") {
			got = append(got, l)
		}
	}
	return got
}

// promote through the binary: the request lands in status.targetPrimary.
func TestPluginPromoteAsks(t *testing.T) {
	ns := newNamespace(t, "plugin-promote")
	reportedRF(t, ns, "pw")
	stdout, stderr, err := kubectlHaredis(t, cp.KubeconfigPath, "promote", "app", "app-3", "-n", ns, "--wait", "0")
	if err != nil || !strings.Contains(stdout, "asked app to switch over from app-2 to app-3") {
		t.Fatalf("promote: %v\n%s%s", err, stdout, stderr)
	}
	rf, err := getRF(context.Background(), ns, "app")
	if err != nil || rf.Status.TargetPrimary != "app-3" {
		t.Errorf("targetPrimary %q, %v", rf.Status.TargetPrimary, err)
	}
}
