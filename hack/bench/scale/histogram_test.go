package main

import (
	"math"
	"testing"
)

const exposition = `# HELP controller_runtime_reconcile_time_seconds Length of time per reconciliation per controller
# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_bucket{controller="other",le="0.1"} 50
controller_runtime_reconcile_time_seconds_bucket{controller="redisfailover",le="0.1"} 40
controller_runtime_reconcile_time_seconds_bucket{controller="redisfailover",le="0.2"} 90
controller_runtime_reconcile_time_seconds_bucket{controller="redisfailover",le="+Inf"} 100
controller_runtime_reconcile_time_seconds_sum{controller="redisfailover"} 14.5
controller_runtime_reconcile_time_seconds_count{controller="redisfailover"} 100
`

func TestHistogramQuantilesInterpolateInBuckets(t *testing.T) {
	h, err := parseHistogram(exposition, reconcileMetric, "controller", controllerName)
	if err != nil {
		t.Fatal(err)
	}
	if h.count() != 100 || h.sum != 14.5 {
		t.Fatalf("count %v sum %v", h.count(), h.sum)
	}
	for _, c := range []struct{ q, want float64 }{{0.2, 0.05}, {0.5, 0.12}, {0.99, 0.2}} {
		if got := h.quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%.2f = %v, want %v", c.q, got, c.want)
		}
	}
	earlier := histogram{bounds: h.bounds, counts: []float64{40, 40, 40}}
	d := h.sub(earlier)
	if d.count() != 60 || math.Abs(d.quantile(0.5)-0.16) > 1e-9 {
		t.Errorf("difference: count %v, p50 %v", d.count(), d.quantile(0.5))
	}
	none, err := parseHistogram(exposition, reconcileMetric, "controller", "absent")
	if err != nil || none.count() != 0 || h.sub(none).count() != 100 {
		t.Errorf("an absent series must be empty: %v, %v", none, err)
	}
	if !math.IsNaN(h.sub(h).quantile(0.5)) {
		t.Error("no observations must give NaN")
	}
}
