// Package generated checks that the files `make generate` writes from the
// kubebuilder markers are current: CRDs, RBAC and deepcopy functions, and
// the Helm chart's copies of them and its README.
package generated

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/haredis/haredis/test/controlplane"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// The same generators and options as `make generate`, written elsewhere.
	controllerGen := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", append([]string{"tool", "-modfile=" + filepath.Join(root, "hack", "tools", "go.mod"), "controller-gen"}, args...)...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, b)
		}
	}
	controllerGen("object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:object:dir="+filepath.Join(out, "api"))
	controllerGen("crd:generateEmbeddedObjectMeta=false", "rbac:roleName=haredis-operator", "paths=./...",
		"output:crd:artifacts:config="+filepath.Join(out, "crd"), "output:rbac:artifacts:config="+filepath.Join(out, "rbac"))

	crds, err := filepath.Glob(filepath.Join(out, "crd", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("controller-gen wrote no CRD (%v)", err)
	}
	ref := exec.Command("go", append([]string{"run", "./hack/crdref"}, crds...)...)
	ref.Dir = root
	refOut, err := ref.Output()
	if err != nil {
		t.Fatalf("hack/crdref: %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, "reference.md"), refOut, 0o644); err != nil {
		t.Fatal(err)
	}

	compareDirs(t, filepath.Join(out, "crd"), filepath.Join(root, "config", "crd", "bases"))
	compareFile(t, filepath.Join(out, "reference.md"), filepath.Join(root, "docs", "reference.md"))
	compareDirs(t, filepath.Join(out, "rbac"), filepath.Join(root, "config", "rbac"))
	compareFile(t, filepath.Join(out, "api", "zz_generated.deepcopy.go"), filepath.Join(root, "api", "v1", "zz_generated.deepcopy.go"))

	// The Helm chart carries copies of the CRDs and of the role, and a
	// README generated from its values.
	chart := filepath.Join(root, "charts", "haredis")
	compareDirs(t, filepath.Join(out, "crd"), filepath.Join(chart, "crds"))
	if extra, _ := filepath.Glob(filepath.Join(chart, "crds", "*.yaml")); len(extra) != len(crds) {
		t.Errorf("charts/haredis/crds holds %d files, config/crd/bases %d: run `make generate`", len(extra), len(crds))
	}
	compareFile(t, filepath.Join(out, "rbac", "role.yaml"), filepath.Join(chart, "files", "role.yaml"))
	doc := exec.Command("go", "run", "./hack/chartdoc", chart)
	doc.Dir = root
	docOut, err := doc.Output()
	if err != nil {
		t.Fatalf("hack/chartdoc: %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, "chart-README.md"), docOut, 0o644); err != nil {
		t.Fatal(err)
	}
	compareFile(t, filepath.Join(out, "chart-README.md"), filepath.Join(chart, "README.md"))
	compareFile(t, filepath.Join(chart, "files", "grafana-dashboard.json"), filepath.Join(root, "docs", "grafana-dashboard.json"))
	compareFile(t, filepath.Join(chart, "files", "alerts.yaml"), filepath.Join(root, "docs", "alerts.yaml"))
}

func compareDirs(t *testing.T, fresh, committed string) {
	t.Helper()
	entries, err := os.ReadDir(fresh)
	if err != nil {
		t.Fatalf("cannot read generated files: %v", err)
	}
	if len(entries) == 0 {
		t.Fatalf("controller-gen wrote nothing into %s", fresh)
	}
	for _, e := range entries {
		compareFile(t, filepath.Join(fresh, e.Name()), filepath.Join(committed, e.Name()))
	}
}

func compareFile(t *testing.T, fresh, committed string) {
	t.Helper()
	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatalf("cannot read generated file: %v", err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Errorf("%s is missing: run `make generate` and commit the result (%v)", committed, err)
		return
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s is stale: run `make generate` and commit the result", committed)
	}
}
