package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/internal/metrics"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/controlplane"
	"github.com/haredis/haredis/test/operatorbed"
)

// TestMetricsAreDocumented scrapes every metrics endpoint of a running
// RedisFailover and of the operator on the bed: every haredis_ metric is
// listed in docs/metrics.md, and the main ones are there.
func TestMetricsAreDocumented(t *testing.T) {
	t.Parallel() // with the others that mostly wait: see TestMain
	ns, rf, _ := newReadyRF(t, "metrics", nil)
	ctx := context.Background()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	hc := env.MetricsHTTPClient(3 * time.Second)
	scrape := func(what, url, token string) metrics.Families {
		t.Helper()
		var fams metrics.Families
		redistest.WaitFor(t, 30*time.Second, "a scrape of "+what, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			fams, err = metrics.Parse(resp.Body)
			return err
		})
		for name := range fams {
			if strings.HasPrefix(name, "haredis_") && !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("%s serves %s, which docs/metrics.md does not list", what, name)
			}
		}
		return fams
	}
	want := func(what string, fams metrics.Families, names ...string) {
		t.Helper()
		for _, n := range names {
			if _, ok := fams[n]; !ok {
				t.Errorf("%s serves no %s", what, n)
			}
		}
	}
	primary, err := getPod(ctx, ns, rf.Status.CurrentPrimary)
	if err != nil {
		t.Fatal(err)
	}
	instFams := scrape("the primary's manager", "http://"+net.JoinHostPort(primary.Status.PodIP, strconv.Itoa(specs.InstanceMetricsPort))+"/metrics", "")
	want("the primary's manager", instFams,
		"haredis_instance_role", "haredis_instance_ready", "haredis_instance_replication_offset_bytes", "haredis_instance_connected_replicas",
		"haredis_instance_memory_used_bytes", "haredis_instance_keyspace_hits_total", "haredis_instance_rdb_last_bgsave_ok")
	var proxies corev1.PodList
	if err := kc.List(ctx, &proxies, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "proxy"}); err != nil || len(proxies.Items) == 0 {
		t.Fatalf("proxy pods: %v, %d", err, len(proxies.Items))
	}
	proxyFams := scrape("a proxy", "http://"+net.JoinHostPort(proxies.Items[0].Status.PodIP, "9090")+"/metrics", "")
	want("a proxy", proxyFams,
		"haredis_proxy_connections_active", "haredis_proxy_commands_total", "haredis_proxy_primary_known")
	ops, err := env.OperatorPods(ctx)
	if err != nil || len(ops) == 0 {
		t.Fatalf("operator pods: %v, %d", err, len(ops))
	}
	// The operator serves its metrics over HTTPS to a token allowed to get
	// /metrics only.
	opURL := "https://" + net.JoinHostPort(ops[0].Status.PodIP, "8080") + "/metrics"
	reader, err := env.ServiceAccountToken(ctx, ns, "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := env.ServiceAccountToken(ctx, ns, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	binding, err := env.BindClusterRole(ctx, ns, "prometheus", operatorbed.MetricsReaderRole)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Delete(context.Background(), binding) })
	for _, c := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"a token not allowed /metrics", stranger, http.StatusForbidden}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, opURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("the operator's metrics with %s: %v", c.who, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("the operator's metrics with %s: status %d, want %d", c.who, resp.StatusCode, c.want)
		}
	}
	opFams := scrape("the operator", opURL, reader)
	want("the operator", opFams, "controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total")

	// Every metric the alerts and the dashboard read is served.
	served := map[string]bool{}
	for _, fams := range []metrics.Families{instFams, proxyFams, opFams} {
		for n := range fams {
			served[n] = true
		}
	}
	for _, f := range []string{"alerts.yaml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(root, "charts", "haredis", "files", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricName.FindAllString(string(b), -1) {
			if !served[n] {
				t.Errorf("%s reads %s, which no scrape of the bed has", f, n)
			}
		}
	}
}

var metricName = regexp.MustCompile(`haredis_[a-z_]+[a-z]`)
