package integration

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/client-go/discovery"

	haredisv1 "github.com/haredis/haredis/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(cp.KubectlPath, append([]string{"--kubeconfig=" + cp.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The control plane must report a proper version: kubectl and client-go's
// discovery refuse the "v0.0.0-master" a build without version ldflags gives.
func TestServerReportsItsVersion(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatalf("discovery cannot read the server version: %v", err)
	}
	if v.GitVersion != "v1.37.2" || v.Major != "1" || v.Minor != "37" {
		t.Errorf("server version = %s (major %q minor %q), want v1.37.2", v.GitVersion, v.Major, v.Minor)
	}
	var out struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(kubectl(t, "version", "-o", "json")), &out); err != nil {
		t.Fatalf("kubectl version -o json: %v", err)
	}
	if out.ServerVersion.GitVersion != "v1.37.2" {
		t.Errorf("kubectl sees server %q, want v1.37.2", out.ServerVersion.GitVersion)
	}
}

func TestGetPrintsTheColumnsUsersWant(t *testing.T) {
	ctx := context.Background()
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "columns", Namespace: "default"}}
	if err := k8sClient.Create(ctx, rf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), rf) })
	rf.Status.CurrentPrimary = "columns-1"
	rf.Status.ReadyInstances = 2
	rf.Status.Phase = haredisv1.PhaseDegraded
	if err := k8sClient.Status().Update(ctx, rf); err != nil {
		t.Fatalf("cannot write status: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(kubectl(t, "get", "rf", "columns", "-n", "default")), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got:\n%s", strings.Join(lines, "\n"))
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME PRIMARY INSTANCES READY PHASE AGE" {
		t.Errorf("header = %q", lines[0])
	}
	row := strings.Fields(lines[1])
	if len(row) != 6 || strings.Join(row[:5], " ") != "columns columns-1 3 2 Degraded" {
		t.Errorf("row = %q, want columns columns-1 3 2 Degraded AGE", lines[1])
	}
}
