package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// PrintStatus writes the report for humans: the verdict first, then the
// primary, the instances, the sentinels, the proxies, the failovers and
// the conditions. color paints it (for a terminal); now dates the ages.
func PrintStatus(w io.Writer, r *StatusReport, color bool, now time.Time) {
	p := painter(color)
	stateColor := map[string]string{
		StateReady: colorGreen, StateDegraded: colorYellow, StateNotReady: colorYellow,
		StateFailingOver: colorRed, StateNotServing: colorRed, StateUnknown: colorYellow, StateHibernated: colorYellow, StateFenced: colorYellow,
		StateImporting: colorYellow,
	}[r.Verdict.State]
	fmt.Fprintf(w, "%s %s: %s\n\n", p.paint(colorBold, r.Name+" ("+r.Namespace+")"), p.paint(stateColor+colorBold, verdictWord(r.Verdict.State)), r.Verdict.Summary)

	primary := "none"
	if r.Primary != "" {
		primary = r.Primary
		for _, i := range r.Instances {
			if i.Name == r.Primary {
				primary += fmt.Sprintf(" (%s, %s)", dash(i.Server), place(i.Node, i.Zone))
			}
		}
	}
	facts := [][2]string{{"Primary", primary}}
	if r.Endpoints.RedisURL != "" {
		via := "the primary directly"
		if r.Proxies != nil {
			via = "through the proxies"
		}
		facts = append(facts, [2]string{"REDIS_URL", r.Endpoints.RedisURL + " (" + via + ")"})
	}
	if r.Endpoints.Sentinel != "" {
		pool := ""
		if r.SentinelPool != "" {
			pool = ", SentinelPool " + r.SentinelPool
		}
		facts = append(facts, [2]string{"Sentinels", fmt.Sprintf("%s, master name %s, quorum %d of %d%s", r.Endpoints.Sentinel, r.MasterName, r.Sentinels.Quorum, r.Sentinels.Desired, pool)})
	}
	facts = append(facts, [2]string{"Failovers", failovers(r, now)})
	if ls := r.LastSwitchover; ls != nil {
		facts = append(facts, [2]string{"Last switchover", switchover(ls, now)})
	}
	if b := r.Backups; b != nil {
		facts = append(facts, [2]string{"Backups", backups(b, now)})
	}
	if li := r.LiveImport; li != nil {
		facts = append(facts, [2]string{"Live import", liveImport(li, now)})
	}
	labelled(w, p, facts)

	fmt.Fprintln(w)
	rows := make([][]cell, 0, len(r.Instances))
	for _, i := range r.Instances {
		roleColor := colorNone
		if i.Role == string(haredisv1.RolePrimary) {
			roleColor = colorBold
		}
		lag := "-"
		if i.Role == string(haredisv1.RoleReplica) {
			lag = humanBytes(i.LagBytes)
		}
		volume := dash(i.Volume)
		if u := i.VolumeUsedPercent; u != nil {
			volume += fmt.Sprintf(" %d%% used", *u)
		}
		if i.VolumeWanted != "" {
			volume += " (growing to " + i.VolumeWanted + ")"
		}
		notes := []string{}
		if u := i.VolumeUsedPercent; u != nil && *u >= haredisv1.VolumeNearlyFullPercent {
			notes = append(notes, "volume nearly full")
		}
		if i.UpdatePending {
			notes = append(notes, "update pending")
		}
		if len(i.PendingRestart) > 0 {
			notes = append(notes, "restart for "+strings.Join(i.PendingRestart, ","))
		}
		if i.Pod == "" {
			notes = append(notes, "no pod")
		}
		rows = append(rows, []cell{
			{i.Name, colorNone}, {dash(i.Role), roleColor}, yesNo(i.Ready), {dash(i.Server), colorNone},
			{dash(i.Node), colorNone}, {dash(i.Zone), colorNone}, {fmt.Sprint(i.Offset), colorNone}, {lag, colorNone},
			restartCell(i.Restarts), {volume, colorNone}, {strings.Join(notes, "; "), colorYellow},
		})
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no instance reported yet")
	} else {
		table(w, p, []string{"INSTANCE", "ROLE", "READY", "SERVER", "NODE", "ZONE", "OFFSET", "LAG", "RESTARTS", "VOLUME", ""}, rows)
	}

	fmt.Fprintln(w)
	podTable(w, p, "SENTINEL", "sentinels", r.Sentinels)
	if r.Proxies != nil {
		fmt.Fprintln(w)
		podTable(w, p, "PROXY", "proxies", *r.Proxies)
	}

	fmt.Fprintln(w)
	rows = rows[:0]
	for _, c := range r.Conditions {
		color := colorGreen
		if !conditionHealthy(c) {
			color = colorRed
			if c.Type == haredisv1.ConditionAuthDisabled || c.Type == haredisv1.ConditionConfigApplied || c.Type == haredisv1.ConditionStorageResized {
				color = colorYellow
			}
		}
		if c.Type == haredisv1.ConditionProgressing {
			color = colorNone
		}
		rows = append(rows, []cell{{c.Type, colorNone}, {string(c.Status), color}, {c.Reason, colorNone}, {ago(now, &c.LastTransitionTime), colorNone}, {c.Message, colorNone}})
	}
	table(w, p, []string{"CONDITION", "STATUS", "REASON", "AGE", "MESSAGE"}, rows)

	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\n%s %s", p.paint(colorYellow, "note:"), warn)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w)
	}
}

func verdictWord(state string) string {
	switch state {
	case StateReady:
		return "READY"
	case StateDegraded:
		return "DEGRADED"
	case StateNotReady:
		return "NOT READY"
	case StateFailingOver:
		return "FAILING OVER"
	case StateNotServing:
		return "NOT SERVING"
	case StateHibernated:
		return "HIBERNATED"
	case StateFenced:
		return "FENCED"
	case StateImporting:
		return "IMPORTING"
	}
	return "UNKNOWN"
}

func labelled(w io.Writer, p painter, facts [][2]string) {
	width := 0
	for _, f := range facts {
		width = max(width, len(f[0]))
	}
	for _, f := range facts {
		fmt.Fprintf(w, "%s%s  %s\n", p.paint(colorBold, f[0]), strings.Repeat(" ", width-len(f[0])), f[1])
	}
}

func podTable(w io.Writer, p painter, kind, plural string, g PodGroup) {
	rows := make([][]cell, 0, len(g.Pods))
	views := false
	for _, pod := range g.Pods {
		views = views || pod.View != nil
	}
	for _, pod := range g.Pods {
		phase := pod.Phase
		if pod.Ready {
			phase = ""
		}
		row := []cell{{pod.Name, colorNone}, yesNo(pod.Ready), {dash(pod.Node), colorNone}, {dash(pod.Zone), colorNone}, restartCell(pod.Restarts)}
		if views {
			row = append(row, viewCell(pod.View))
		}
		rows = append(rows, append(row, cell{phase, colorYellow}))
	}
	color := colorGreen
	if g.Ready < g.Desired {
		color = colorYellow
	}
	fmt.Fprintf(w, "%s\n", p.paint(color, fmt.Sprintf("%d of %d %s ready", g.Ready, g.Desired, plural)))
	if len(rows) > 0 {
		header := []string{kind, "READY", "NODE", "ZONE", "RESTARTS"}
		if views {
			header = append(header, "NAMES PRIMARY")
		}
		table(w, p, append(header, ""), rows)
	}
}

// viewCell is what a sentinel names: the primary and its configuration
// epoch, or why it names none.
func viewCell(v *haredisv1.SentinelView) cell {
	switch {
	case v == nil:
		return cell{"-", colorNone}
	case v.Problem != "":
		return cell{v.Problem, colorYellow}
	default:
		return cell{fmt.Sprintf("%s (epoch %d)", v.Primary, v.ConfigEpoch), colorNone}
	}
}

func failovers(r *StatusReport, now time.Time) string {
	if r.FailoverCount == 0 {
		return "none"
	}
	s := fmt.Sprintf("%d", r.FailoverCount)
	if t := r.LastFailoverTime; t != nil {
		s += fmt.Sprintf(", the last %s ago (%s)", ago(now, t), t.UTC().Format(time.RFC3339))
	}
	return s
}

func switchover(ls *haredisv1.SwitchoverStatus, now time.Time) string {
	when := ls.EndTime
	if when == nil {
		when = ls.StartTime
	}
	s := fmt.Sprintf("%s → %s, %s %s ago (%s)", ls.From, ls.To, ls.Result, ago(now, when), ls.Reason)
	if ls.WritesHeldMilliseconds > 0 {
		s += fmt.Sprintf(", writes held %d ms", ls.WritesHeldMilliseconds)
	}
	if ls.Message != "" {
		s += ": " + ls.Message
	}
	return s
}

func yesNo(ok bool) cell {
	if ok {
		return cell{"yes", colorGreen}
	}
	return cell{"no", colorRed}
}

func restartCell(n int32) cell {
	if n > 0 {
		return cell{fmt.Sprint(n), colorYellow}
	}
	return cell{"0", colorNone}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func place(node, zone string) string {
	switch {
	case node == "":
		return "no node"
	case zone == "":
		return "on " + node
	}
	return "on " + node + " in " + zone
}

// humanBytes is a size for humans: 0 B, 512 B, 1.5 KiB, 12 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v >= 10 {
		return fmt.Sprintf("%.0f %ciB", v, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}

func backups(b *haredisv1.BackupStatus, now time.Time) string {
	s := "none completed yet"
	if b.LastSuccessfulBackup != "" {
		s = fmt.Sprintf("last %s, %s ago", b.LastSuccessfulBackup, ago(now, b.LastSuccessfulTime))
	}
	if t := b.NextScheduleTime; t != nil {
		s += fmt.Sprintf("; next in %s (%s)", until(now, t), t.UTC().Format(time.RFC3339))
	}
	return s
}

// liveImport says where a live import stands.
func liveImport(li *haredisv1.LiveImportStatus, now time.Time) string {
	s := "from " + li.Source
	switch {
	case li.CutoverTime != nil:
		s += fmt.Sprintf(", cut over %s ago", ago(now, li.CutoverTime))
	case li.LinkUp:
		s += ", in sync, " + humanBytes(li.LagBytes) + " behind"
	default:
		s += ", not in sync"
	}
	if li.Problem != "" {
		s += ": " + li.Problem
	}
	if li.LastCutoverError != "" && li.CutoverTime == nil {
		s += "; last cutover refused: " + li.LastCutoverError
	}
	return s
}

// until is how long until t, as ago says how long since.
func until(now time.Time, t *metav1.Time) string {
	if t.Time.Before(now) {
		return "0s"
	}
	back := metav1.NewTime(now.Add(-t.Time.Sub(now)))
	return ago(now, &back)
}
