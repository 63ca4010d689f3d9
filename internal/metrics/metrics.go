// Package metrics serves a component's Prometheus metrics from a registry of
// its own and reads them back. The proxy's admin endpoint and the instance
// manager's GET /metrics use it; a private registry per server lets several
// servers run in one process (as the tests do) without sharing or colliding
// in the global default registry.
package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Handler serves collectors from a new private registry, in the Prometheus
// text format unless the scraper asks for another exposition format. The
// collectors are fixed by the calling code, so a conflict between them (a
// name registered twice, an invalid descriptor) is a programming error and
// panics when the handler is built.
func Handler(collectors ...prometheus.Collector) http.Handler {
	return HandlerWithLabels(nil, collectors...)
}

// HandlerWithLabels is Handler with labels added to every metric (which
// RedisFailover an instance belongs to, for alerts that group by it).
func HandlerWithLabels(labels prometheus.Labels, collectors ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWith(labels, reg).MustRegister(collectors...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Bool is 1 for true and 0 for false, the value of a gauge that states a
// condition.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Parse reads one scrape in the Prometheus text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the Prometheus text format: %w", err)
	}
	return fams, nil
}

// Types are the type of every metric family, by name.
func (f Families) Types() map[string]dto.MetricType {
	types := make(map[string]dto.MetricType, len(f))
	for name, fam := range f {
		types[name] = fam.GetType()
	}
	return types
}

// Value is the value of the counter or gauge name whose labels are exactly
// labels, given as name, value pairs (none for an unlabelled metric).
func (f Families) Value(name string, labels ...string) (float64, error) {
	if len(labels)%2 != 0 {
		return 0, fmt.Errorf("labels of %s: %q is not a list of name, value pairs", name, labels)
	}
	fam, ok := f[name]
	if !ok {
		return 0, fmt.Errorf("no metric %s", name)
	}
	want := map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fam.GetMetric() {
		if !sameLabels(m.GetLabel(), want) {
			continue
		}
		switch fam.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), nil
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), nil
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), nil
		default:
			return 0, fmt.Errorf("metric %s is a %s, not a counter or a gauge", name, fam.GetType())
		}
	}
	return 0, fmt.Errorf("no metric %s{%s}", name, formatLabels(want))
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

func formatLabels(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return strings.Join(parts, ",")
}
