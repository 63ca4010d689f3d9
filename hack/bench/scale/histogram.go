package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// histogram is one series of a Prometheus histogram: cumulative bucket
// counts by upper bound (the last one +Inf).
type histogram struct {
	bounds []float64
	counts []float64
	sum    float64
}

// count is the number of observations.
func (h histogram) count() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// parseHistogram reads the series of metric whose label key has the value
// value from the Prometheus text exposition format. A series that is not
// there yet (no observation so far) is an empty histogram.
func parseHistogram(text, metric, key, value string) (histogram, error) {
	byBound := map[float64]float64{}
	var h histogram
	for _, line := range strings.Split(text, "\n") {
		name, labels, v, ok := splitSample(line)
		if !ok || labels[key] != value {
			continue
		}
		switch name {
		case metric + "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				return h, fmt.Errorf("cannot parse bucket bound %q of %s: %w", labels["le"], metric, err)
			}
			byBound[le] = v
		case metric + "_sum":
			h.sum = v
		}
	}
	if len(byBound) == 0 {
		return h, nil
	}
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	sort.Float64s(h.bounds)
	if !math.IsInf(h.bounds[len(h.bounds)-1], 1) {
		return h, fmt.Errorf("%s has no +Inf bucket", metric)
	}
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	return h, nil
}

// splitSample splits `name{k="v",...} value` (a sample line without a
// timestamp); comments and other lines give ok false.
func splitSample(line string) (name string, labels map[string]string, v float64, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return "", nil, 0, false
	}
	labels, ok = parseLabels(line[open+1 : end])
	if !ok {
		return "", nil, 0, false
	}
	fields := strings.Fields(line[end+1:])
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", nil, 0, false
	}
	return line[:open], labels, v, true
}

// parseLabels reads k="v",k2="v2" with Go-compatible escapes in values.
func parseLabels(s string) (map[string]string, bool) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), ",")) {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, false
		}
		key, rest := strings.TrimSpace(s[:eq]), s[eq+1:]
		closing := 1
		for closing < len(rest) && rest[closing] != '"' {
			if rest[closing] == '\\' {
				closing++
			}
			closing++
		}
		if closing >= len(rest) {
			return nil, false
		}
		val, err := strconv.Unquote(rest[:closing+1])
		if err != nil {
			return nil, false
		}
		out[key] = val
		s = rest[closing+1:]
	}
	return out, true
}

// sub returns the observations of h that o had not seen yet (o an earlier
// scrape of the same series).
func (h histogram) sub(o histogram) histogram {
	d := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), sum: h.sum - o.sum}
	for i := range h.counts {
		d.counts[i] = h.counts[i]
		if i < len(o.counts) {
			d.counts[i] -= o.counts[i]
		}
	}
	return d
}

// quantile interpolates the q-quantile linearly inside its bucket, as
// Prometheus's histogram_quantile does; NaN without observations. A
// quantile in the +Inf bucket is the highest finite bound.
func (h histogram) quantile(q float64) float64 {
	total := h.count()
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	for i, c := range h.counts {
		if c < rank {
			continue
		}
		if math.IsInf(h.bounds[i], 1) {
			if i == 0 {
				return math.NaN()
			}
			return h.bounds[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.bounds[i-1], h.counts[i-1]
		}
		return lo + (h.bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.bounds[len(h.bounds)-1]
}
