package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

const mib = 1 << 20

// ms turns seconds into milliseconds.
func ms(s float64) float64 { return s * 1000 }

// printResults prints the table and ends with the bench line.
func printResults(cfg config, r *results) {
	p50, p99 := ms(r.whole.quantile(0.5)), ms(r.whole.quantile(0.99))
	cores := r.usage.cpu.Seconds() / r.wall.Seconds()
	fmt.Printf("\n%d RedisFailovers (image %s, %d instances, %d sentinels, no proxy, %s volumes), the operator as installed (one replica)\n",
		cfg.rfs, r.image, instances, sentinels, storageSize)
	row := func(name, value string) { fmt.Printf("  %-46s %s\n", name, value) }
	row("all Ready after creation", fmt.Sprintf("%.1f s", r.allReady.Seconds()))
	row("operator peak RSS (VmHWM)", fmt.Sprintf("%.1f MiB", float64(r.usage.peakRSS)/mib))
	row("operator CPU over the run", fmt.Sprintf("%.1f s in %.0f s of wall time (%.2f cores)", r.usage.cpu.Seconds(), r.wall.Seconds(), cores))
	row("reconcile latency p50 / p99 (whole run)", fmt.Sprintf("%.0f / %.0f ms over %.0f reconciles (interpolated in histogram buckets)", p50, p99, r.whole.count()))
	for _, ph := range r.phases {
		row("  "+ph.name, fmt.Sprintf("%.0f / %.0f ms over %.0f reconciles", ms(ph.h.quantile(0.5)), ms(ph.h.quantile(0.99)), ph.h.count()))
	}
	row("status writes per minute at rest", writesText(r.restWrites))
	row("  fields changed (writes)", fieldsText(r.restWrites))
	row("status writes per minute under write load", writesText(r.loadWrites))
	row("  fields changed (writes)", fieldsText(r.loadWrites))
	row("  Sentinel hints in the operator's log", fmt.Sprintf("at rest %s, under load %s (in a window or the %s before it: each makes the operator look every 250 ms for %s)",
		hints(r.restHints), hints(r.loadHints), hintWindow, hintWindow))
	row("  write load", fmt.Sprintf("%d writers, one write per %s each through NAME-primary: %d acknowledged, %d failed",
		r.load.writers, r.load.interval, r.load.acked, r.load.failed))
	row(fmt.Sprintf("rolling update of %d (spec.redis.resources)", cfg.rolling), fmt.Sprintf("%.1f s until all were updated and Ready", r.rolling.Seconds()))
	m := r.move
	row("label move after SIGKILL of a primary", fmt.Sprintf("%s: %s -> %s; role label %d ms, %s-primary endpoints %d ms, both %d ms",
		m.rf, m.from, m.to, m.label.Milliseconds(), m.rf, m.endpoints.Milliseconds(), m.both.Milliseconds()))
	row("", fmt.Sprintf("the replica reported itself primary %d ms after the kill (Sentinel: down-after and election); the operator's part, from then to both moved: %d ms",
		m.promoted.Milliseconds(), (m.both-m.promoted).Milliseconds()))
	row("", fmt.Sprintf("the first sentinel announced it (+switch-master) %d ms after the kill; the role label moved %d ms after that announcement, the endpoints %d ms after the label",
		m.switched.Milliseconds(), (m.label-m.switched).Milliseconds(), (m.endpoints-m.label).Milliseconds()))
	if st := m.steps; st.found {
		row("", fmt.Sprintf("the operator's log: it heard the first announcement %d ms after the benchmark did, had ROLE's confirmation and the announcing sentinel's configuration (asked at once on a kept connection) %d ms later, asked that sentinel again for %d ms, moved the labels (pods from the cache, label lock, patches) in %d ms",
			st.heard.Sub(m.killedAt.Add(m.switched)).Milliseconds(), st.confirm.Milliseconds(), st.ask.Milliseconds(), st.patches.Milliseconds()))
	} else {
		row("", "the operator's log has no label move after +switch-master for it (the reconcile moved the label)")
	}
	row("", fmt.Sprintf("(%d of %d rolling updates still under way then; Ready again %.1f s after the kill)", m.rollingUnderWay, cfg.rolling, r.recovered.Seconds()))

	fields := []string{
		fmt.Sprintf("rfs=%d", cfg.rfs),
		fmt.Sprintf("all_ready_s=%.1f", r.allReady.Seconds()),
		fmt.Sprintf("operator_rss_mib=%.1f", float64(r.usage.peakRSS)/mib),
		"reconcile_p99_ms=" + num(p99),
		fmt.Sprintf("status_writes_per_min=%.1f", r.loadWrites.perMinute()),
		fmt.Sprintf("label_move_under_load_ms=%d", m.both.Milliseconds()),
		fmt.Sprintf("label_move_after_promotion_ms=%d", (m.both - m.promoted).Milliseconds()),
		fmt.Sprintf("label_after_switch_master_ms=%d", (m.label - m.switched).Milliseconds()),
		fmt.Sprintf("label_heard_ms=%s label_confirm_ms=%s label_ask_ms=%s label_patch_ms=%s",
			stepMs(m.steps, m.steps.heard.Sub(m.killedAt.Add(m.switched))), stepMs(m.steps, m.steps.confirm), stepMs(m.steps, m.steps.ask), stepMs(m.steps, m.steps.patches)),
		"reconcile_p50_ms=" + num(p50),
		fmt.Sprintf("status_writes_per_min_rest=%.1f", r.restWrites.perMinute()),
		fmt.Sprintf("operator_cpu_s=%.1f", r.usage.cpu.Seconds()),
		fmt.Sprintf("operator_cpu_cores=%.2f", cores),
		fmt.Sprintf("rolling_update_s=%.1f", r.rolling.Seconds()),
		"image=" + r.image,
	}
	fmt.Println("bench: scale " + strings.Join(fields, " "))
}

func writesText(w statusWrites) string {
	return fmt.Sprintf("%.1f (%d in %.0f s; %d of them changed nothing but replication offsets and lags)",
		w.perMinute(), w.total, w.window.Seconds(), w.offsetsOnly)
}

// fieldsText lists the status fields the writes changed, most often first.
func fieldsText(w statusWrites) string {
	names := make([]string, 0, len(w.byField))
	for f := range w.byField {
		names = append(names, f)
	}
	sort.Slice(names, func(i, j int) bool {
		if w.byField[names[i]] != w.byField[names[j]] {
			return w.byField[names[i]] > w.byField[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, 0, len(names))
	for _, f := range names {
		parts = append(parts, fmt.Sprintf("%s %d", f, w.byField[f]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func hints(n int) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprint(n)
}

// num prints a latency in whole milliseconds, or NaN when there was none.
func num(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.0f", v)
}

// stepMs prints a step of the operator's label move in milliseconds, NaN
// when its log had none.
func stepMs(s labelSteps, d time.Duration) string {
	if !s.found {
		return "NaN"
	}
	return fmt.Sprint(d.Milliseconds())
}
