package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

var root = filepath.Join("..", "..")

// metricsOf parses expr with Prometheus's parser and returns the metrics
// it reads.
func metricsOf(t *testing.T, where, expr string) []string {
	t.Helper()
	// Grafana's variables are not PromQL: give them a value first.
	expr = strings.NewReplacer("$namespace", "ns", "$redisfailover", "rf").Replace(expr)
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// documented fails for a metric docs/metrics.md does not list.
func documented(t *testing.T, where string, names []string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("%s reads %s, which docs/metrics.md does not list (haredis does not serve it)", where, n)
		}
	}
}

func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "charts", "haredis", "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if seen[r.Alert] || r.Alert == "" {
				t.Errorf("alert %q is unnamed or twice", r.Alert)
			}
			seen[r.Alert] = true
			documented(t, "alert "+r.Alert, metricsOf(t, "alert "+r.Alert, r.Expr))
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity, a summary and a description", r.Alert)
			}
		}
	}
	// What the alerts must cover.
	for _, want := range []string{"HaredisNoPrimary", "HaredisReplicaLagging", "HaredisSentinelsWithoutMajority", "HaredisFailover",
		"HaredisBackupsNotCurrent", "HaredisBackupFailed", "HaredisVolumeNearlyFull", "HaredisProxyWithoutPrimary"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "charts", "haredis", "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard uid %q, %d panels", d.UID, len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			documented(t, "panel "+p.Title, metricsOf(t, "panel "+p.Title, tg.Expr))
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.*), \w+\)$`)
	for _, v := range d.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			documented(t, "variable "+v.Name, metricsOf(t, "variable "+v.Name, m[1]))
		}
	}
}
