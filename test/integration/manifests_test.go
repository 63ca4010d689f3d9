package integration

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/haredis/haredis/test/controlplane"
)

// TestInstallManifestsApply: `kubectl apply -k config/` (CRD, RBAC, operator
// Deployment) and the sample are accepted by the API server as they are.
func TestInstallManifestsApply(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := kubectl(t, "apply", "-k", filepath.Join(root, "config"))
	for _, want := range []string{"deployment.apps/haredis-operator", "clusterrole.rbac.authorization.k8s.io/haredis-operator", "clusterrolebinding.rbac.authorization.k8s.io/haredis-operator", "serviceaccount/haredis-operator"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply -k config/ did not report %s:\n%s", want, out)
		}
	}
	out = kubectl(t, "apply", "--dry-run=server", "-n", "default", "-f", filepath.Join(root, "config", "samples", "redisfailover.yaml"))
	if !strings.Contains(out, "redisfailover.haredis.dev/app") {
		t.Errorf("the sample was not accepted:\n%s", out)
	}
}
