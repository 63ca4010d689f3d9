// Package chart checks the Helm chart charts/haredis with the real helm:
// it lints, and what it renders is what a platform team needs (the
// restrictive security context, the rules generated from the code, the
// cluster-wide or per-namespace bindings). The end-to-end test
// TestHelmChartInstalls installs it on the test bed.
package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/haredis/haredis/test/controlplane"
)

func helm(t *testing.T, args ...string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"tool", "-modfile=hack/tools/go.mod", "helm"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return string(out)
}

// rendered is the objects of a helm template, by kind and name.
type rendered map[string][]byte

func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out := helm(t, append([]string{"template", "op", "charts/haredis", "--namespace", "haredis-system"}, args...)...)
	objs := rendered{}
	for _, doc := range strings.Split(out, "\n---") {
		var meta struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("cannot parse a rendered object: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		objs[meta.Kind+"/"+meta.Metadata.Namespace+"/"+meta.Metadata.Name] = []byte(doc)
	}
	return objs
}

func (r rendered) get(t *testing.T, key string, into any) {
	t.Helper()
	b, ok := r[key]
	if !ok {
		t.Fatalf("the chart renders no %s; it renders %v", key, r.keys())
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

func (r rendered) keys() []string {
	var ks []string
	for k := range r {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestChartLints(t *testing.T) {
	out := helm(t, "lint", "--strict", "charts/haredis")
	if !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint:\n%s", out)
	}
}

func TestChartRendersTheOperator(t *testing.T) {
	objs := render(t)
	var d appsv1.Deployment
	objs.get(t, "Deployment/haredis-system/op-haredis", &d)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "haredis/haredis:dev" || pod.ServiceAccountName != "op-haredis" {
		t.Errorf("image %q, service account %q", c.Image, pod.ServiceAccountName)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["HAREDIS_OPERATOR_IMAGE"] != c.Image {
		t.Errorf("HAREDIS_OPERATOR_IMAGE %q differs from the operator's image %q: the Redis pods would copy another binary", env["HAREDIS_OPERATOR_IMAGE"], c.Image)
	}
	if !slices.Contains(c.Args, "--leader-elect") || slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--namespace") }) {
		t.Errorf("args %v: want --leader-elect and no --namespace", c.Args)
	}
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != "RuntimeDefault" ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("security contexts: pod %+v, container %+v", psc, sc)
	}
	// The rules are the ones generated from the code.
	root, _ := controlplane.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generated, chart rbacv1.ClusterRole
	if err := yaml.Unmarshal(b, &generated); err != nil {
		t.Fatal(err)
	}
	objs.get(t, "ClusterRole//op-haredis", &chart)
	if !equality.Semantic.DeepEqual(generated.Rules, chart.Rules) {
		t.Errorf("the chart's ClusterRole has other rules than config/rbac/role.yaml")
	}
	var crb rbacv1.ClusterRoleBinding
	objs.get(t, "ClusterRoleBinding//op-haredis", &crb)
	if crb.Subjects[0].Name != "op-haredis" || crb.Subjects[0].Namespace != "haredis-system" {
		t.Errorf("binding subjects %+v", crb.Subjects)
	}
	for k := range objs {
		if strings.HasPrefix(k, "ServiceMonitor/") || strings.HasPrefix(k, "RoleBinding/") {
			t.Errorf("rendered %s by default", k)
		}
	}
}

func TestChartLimitedToNamespaces(t *testing.T) {
	objs := render(t, "--set", "watchNamespaces={shop,billing}", "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.proxyPodMonitor.enabled=true",
		"--set", "metrics.instancePodMonitor.enabled=true", "--set", "image.repository=registry.example/haredis", "--set", "image.tag=v1.2.3")
	if _, ok := objs["ClusterRoleBinding//op-haredis"]; ok {
		t.Error("a ClusterRoleBinding with watchNamespaces: the operator would act in every namespace")
	}
	for _, ns := range []string{"shop", "billing"} {
		var rb rbacv1.RoleBinding
		objs.get(t, "RoleBinding/"+ns+"/op-haredis", &rb)
		if rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != "op-haredis" {
			t.Errorf("RoleBinding in %s refers to %+v", ns, rb.RoleRef)
		}
	}
	var le rbacv1.Role
	objs.get(t, "Role/haredis-system/op-haredis-leader-election", &le)
	var d appsv1.Deployment
	objs.get(t, "Deployment/haredis-system/op-haredis", &d)
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--namespace=shop,billing") || c.Image != "registry.example/haredis:v1.2.3" {
		t.Errorf("args %v, image %s", c.Args, c.Image)
	}
	var sm struct {
		Spec struct {
			Endpoints []struct {
				Port, Scheme, BearerTokenFile string
				TLSConfig                     struct{ InsecureSkipVerify bool }
			}
		}
	}
	objs.get(t, "ServiceMonitor/haredis-system/op-haredis", &sm)
	if e := sm.Spec.Endpoints; len(e) != 1 || e[0].Scheme != "https" || e[0].BearerTokenFile == "" || !e[0].TLSConfig.InsecureSkipVerify {
		t.Errorf("the ServiceMonitor does not scrape the secure metrics with a token: %+v", e)
	}
	if !slices.Contains(c.Args, "--metrics-secure=true") {
		t.Errorf("the operator's metrics are not secure by default: args %v", c.Args)
	}
	// The metrics' authentication is cluster-scoped even when the operator
	// watches a few namespaces; the reader role is there to bind.
	var crb rbacv1.ClusterRoleBinding
	objs.get(t, "ClusterRoleBinding//op-haredis-metrics-auth", &crb)
	var reader rbacv1.ClusterRole
	objs.get(t, "ClusterRole//op-haredis-metrics-reader", &reader)
	if len(reader.Rules) != 1 || !slices.Equal(reader.Rules[0].NonResourceURLs, []string{"/metrics"}) {
		t.Errorf("metrics reader rules %+v", reader.Rules)
	}
	var pm struct {
		Spec struct {
			Selector          struct{ MatchLabels map[string]string }
			NamespaceSelector struct {
				Any        bool
				MatchNames []string
			}
			PodMetricsEndpoints []struct{ Port, Path string }
		}
	}
	for name, want := range map[string]struct{ component, port string }{"proxies": {"proxy", "admin"}, "instances": {"redis", "metrics"}} {
		objs.get(t, "PodMonitor/haredis-system/op-haredis-"+name, &pm)
		if pm.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != want.component || pm.Spec.NamespaceSelector.Any ||
			strings.Join(pm.Spec.NamespaceSelector.MatchNames, ",") != "shop,billing" || pm.Spec.PodMetricsEndpoints[0].Port != want.port {
			t.Errorf("PodMonitor of the %s %+v", name, pm.Spec)
		}
	}
}

func TestChartMonitoring(t *testing.T) {
	objs := render(t, "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct{ Alert, Expr string }
			}
		}
	}
	objs.get(t, "PrometheusRule/haredis-system/op-haredis", &rule)
	if len(rule.Spec.Groups) == 0 || len(rule.Spec.Groups[0].Rules) < 8 {
		t.Fatalf("PrometheusRule groups %+v", rule.Spec.Groups)
	}
	for _, r := range rule.Spec.Groups[0].Rules {
		if r.Alert == "HaredisNoPrimary" && !strings.Contains(r.Expr, `haredis_instance_role{role="primary"}`) {
			t.Errorf("HaredisNoPrimary renders as %q", r.Expr)
		}
	}
	var cm struct {
		Metadata struct{ Labels map[string]string }
		Data     map[string]string
	}
	objs.get(t, "ConfigMap/haredis-system/op-haredis-dashboard", &cm)
	if cm.Metadata.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v: Grafana's sidecar looks for grafana_dashboard", cm.Metadata.Labels)
	}
	root, _ := controlplane.RepoRoot()
	want, err := os.ReadFile(filepath.Join(root, "charts", "haredis", "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(cm.Data["haredis.json"]) != strings.TrimSpace(string(want)) {
		t.Error("the dashboard ConfigMap does not hold files/grafana-dashboard.json as it is")
	}
	if _, ok := render(t)["PrometheusRule/haredis-system/op-haredis"]; ok {
		t.Error("a PrometheusRule by default: clusters without the Prometheus Operator would refuse the chart")
	}
}
