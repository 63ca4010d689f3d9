package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func scrape(t *testing.T, h *httptest.Server) Families {
	t.Helper()
	resp, err := h.Client().Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	fams, err := Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// TestHandlers: two handlers with the same metrics in one process each serve
// their own values, read when scraped.
func TestHandlers(t *testing.T) {
	var n [2]float64
	var srv [2]*httptest.Server
	for i := range srv {
		role := prometheus.NewDesc("test_role", "Role.", []string{"role"}, nil)
		srv[i] = httptest.NewServer(Handler(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."}, func() float64 { return n[i] }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_up", Help: "Up."}, func() float64 { return Bool(i == 1) }),
			collectorFunc{role, func(ch chan<- prometheus.Metric) {
				ch <- prometheus.MustNewConstMetric(role, prometheus.GaugeValue, Bool(i == 0), "primary")
				ch <- prometheus.MustNewConstMetric(role, prometheus.GaugeValue, Bool(i == 1), "replica")
			}},
		))
		defer srv[i].Close()
	}
	n[0], n[1] = 3, 1e6
	for i, s := range srv {
		fams := scrape(t, s)
		want := map[string]dto.MetricType{"test_things_total": dto.MetricType_COUNTER, "test_up": dto.MetricType_GAUGE, "test_role": dto.MetricType_GAUGE}
		if diff := cmp.Diff(want, fams.Types()); diff != "" {
			t.Errorf("server %d: types (-want +got):\n%s", i, diff)
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"test_things_total", nil, n[i]},
			{"test_up", nil, Bool(i == 1)},
			{"test_role", []string{"role", "primary"}, Bool(i == 0)},
			{"test_role", []string{"role", "replica"}, Bool(i == 1)},
		} {
			if got, err := fams.Value(c.name, c.labels...); err != nil || got != c.want {
				t.Errorf("server %d: %s%v = %v, %v; want %v", i, c.name, c.labels, got, err, c.want)
			}
		}
	}
}

func TestValueErrors(t *testing.T) {
	fams, err := Parse(strings.NewReader("# TYPE a gauge\na{role=\"x\"} 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   string
	}{
		{"b", nil, "no metric b"},
		{"a", nil, "no metric a{}"},
		{"a", []string{"role", "y"}, `no metric a{role="y"}`},
		{"a", []string{"role"}, "not a list of name, value pairs"},
		{"h", nil, "is a HISTOGRAM"},
	} {
		if _, err := fams.Value(c.name, c.labels...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Value(%s, %q): %v, want an error with %q", c.name, c.labels, err, c.want)
		}
	}
	if v, err := fams.Value("a", "role", "x"); err != nil || v != 1 {
		t.Errorf("Value(a, role, x) = %v, %v; want 1", v, err)
	}
	if _, err := Parse(strings.NewReader("a{ 1\n")); err == nil {
		t.Error("Parse accepted a broken line")
	}
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
