package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/metrics"
)

func TestAdminEndpoint(t *testing.T) {
	primary := startServer(t)
	replica := startServer(t)
	rc := replica.Client()
	defer rc.Close()
	if err := rc.Do(ctxT(t), "REPLICAOF", "127.0.0.1", primary.Port()).Err(); err != nil {
		t.Fatal(err)
	}
	s, addr := startProxy(t, "", nil)
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	callAs := func(token, method, path string) (int, string) {
		req, _ := http.NewRequest(method, admin.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	call := func(method, path string) (int, string) { return callAs(testPassword, method, path) }
	for _, token := range []string{"", "wrong"} {
		if code, _ := callAs(token, "POST", "/pause?wait=1s"); code != http.StatusUnauthorized {
			t.Errorf("pause with token %q: %d, want 401", token, code)
		}
		if code, _ := callAs(token, "POST", "/resume"); code != http.StatusUnauthorized {
			t.Errorf("resume with token %q: %d, want 401", token, code)
		}
	}
	if s.Paused() {
		t.Fatal("an unauthenticated pause held the clients")
	}
	if code, _ := callAs("", "GET", "/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	if code, _ := call("GET", "/readyz"); code != 503 {
		t.Errorf("readyz without a primary: %d, want 503", code)
	}
	if code, body := call("POST", "/resume?primary="+replica.Addr()); code != 409 {
		t.Errorf("resume to a replica: %d %s, want 409", code, body)
	}
	if code, body := call("POST", "/pause?wait=1s"); code != 200 || !strings.Contains(body, `"drained":true`) {
		t.Errorf("pause: %d %s", code, body)
	}
	if code, body := call("POST", "/resume?primary="+primary.Addr()); code != 200 || !strings.Contains(body, primary.Addr()) {
		t.Errorf("resume: %d %s", code, body)
	}
	if code, _ := call("GET", "/readyz"); code != 200 {
		t.Errorf("readyz with a primary: %d", code)
	}
	c := client(t, addr, func(o *redis.Options) {})
	if err := c.Ping(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
	code, body := call("GET", "/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d %s", code, body)
	}
	fams, err := metrics.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(proxyMetricTypes, fams.Types()); diff != "" {
		t.Errorf("metrics and their types (-want +got):\n%s", diff)
	}
	for name, want := range map[string]float64{"haredis_proxy_connections_accepted_total": 1, "haredis_proxy_connections_active": 1,
		"haredis_proxy_pauses_total": 1, "haredis_proxy_paused": 0, "haredis_proxy_primary_known": 1} {
		if got, err := fams.Value(name); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	if got, err := fams.Value("haredis_proxy_commands_total"); err != nil || got < 1 {
		t.Errorf("haredis_proxy_commands_total = %v, %v; want at least the PING", got, err)
	}
}

// proxyMetricTypes are the metrics of the admin endpoint and their types.
var proxyMetricTypes = map[string]dto.MetricType{
	"haredis_proxy_connections_accepted_total":        dto.MetricType_COUNTER,
	"haredis_proxy_connections_active":                dto.MetricType_GAUGE,
	"haredis_proxy_connections_rejected_total":        dto.MetricType_COUNTER,
	"haredis_proxy_connections_limit_closed_total":    dto.MetricType_COUNTER,
	"haredis_proxy_commands_refused_total":            dto.MetricType_COUNTER,
	"haredis_proxy_connections_held":                  dto.MetricType_GAUGE,
	"haredis_proxy_commands_total":                    dto.MetricType_COUNTER,
	"haredis_proxy_primary_changes_total":             dto.MetricType_COUNTER,
	"haredis_proxy_connections_moved_total":           dto.MetricType_COUNTER,
	"haredis_proxy_connections_ended_on_change_total": dto.MetricType_COUNTER,
	"haredis_proxy_upstream_dial_errors_total":        dto.MetricType_COUNTER,
	"haredis_proxy_pauses_total":                      dto.MetricType_COUNTER,
	"haredis_proxy_pause_timeouts_total":              dto.MetricType_COUNTER,
	"haredis_proxy_paused":                            dto.MetricType_GAUGE,
	"haredis_proxy_primary_known":                     dto.MetricType_GAUGE,
	"haredis_proxy_tls_handshake_errors_total":        dto.MetricType_COUNTER,
}

// TestAdminTokenIsNotThePassword: with an admin token file, /pause and
// /resume take that token, never the Redis password every application
// holds; a new token in the file is in force at the next request, and a
// token that cannot be read refuses everything.
func TestAdminTokenIsNotThePassword(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "proxy-admin-token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := startProxy(t, "", func(c *Config) { c.AdminTokenFile = tokenFile })
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, admin.URL+"/resume", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for token, want := range map[string]int{testPassword: 401, "": 401, "first-token": 200} {
		if got := post(token); got != want {
			t.Errorf("resume with %q: %d, want %d", token, got, want)
		}
	}
	if err := os.WriteFile(tokenFile, []byte("second-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]int{"first-token": 401, "second-token": 200} {
		if got := post(token); got != want {
			t.Errorf("after the token changed, resume with %q: %d, want %d", token, got, want)
		}
	}
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if got := post("second-token"); got != http.StatusServiceUnavailable {
		t.Errorf("resume with the token file gone: %d, want 503", got)
	}
}
