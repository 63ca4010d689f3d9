package plugin

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/specs"
)

// Verdict states, from best to worst.
const (
	StateReady       = "Ready"
	StateDegraded    = "Degraded"
	StateNotReady    = "NotReady"
	StateFailingOver = "FailingOver"
	StateNotServing  = "NotServing"
	StateHibernated  = "Hibernated"
	StateFenced      = "Fenced"
	// StateImporting: a live import runs; the source takes the writes.
	StateImporting = "Importing"
	StateUnknown   = "Unknown"
)

// StatusReport is everything `status` shows, and what -o json prints.
type StatusReport struct {
	Name      string  `json:"name"`
	Namespace string  `json:"namespace"`
	Verdict   Verdict `json:"verdict"`
	Phase     string  `json:"phase,omitempty"`
	Primary   string  `json:"primary,omitempty"`
	// MasterName is the name the sentinels know the RedisFailover by.
	MasterName string              `json:"masterName,omitempty"`
	Endpoints  haredisv1.Endpoints `json:"endpoints"`
	Instances  []InstanceReport    `json:"instances"`
	Sentinels  PodGroup            `json:"sentinels"`
	// SentinelPool is NAMESPACE/NAME of the SentinelPool whose sentinels
	// are Sentinels, empty with dedicated sentinels.
	SentinelPool string `json:"sentinelPool,omitempty"`
	// Proxies is nil when the proxy is disabled.
	Proxies          *PodGroup                   `json:"proxies,omitempty"`
	FailoverCount    int32                       `json:"failoverCount"`
	LastFailoverTime *metav1.Time                `json:"lastFailoverTime,omitempty"`
	LastSwitchover   *haredisv1.SwitchoverStatus `json:"lastSwitchover,omitempty"`
	// Backups is where the backups stand (the last completed one, the
	// next scheduled one); nil when there is neither a schedule nor a
	// completed backup.
	Backups *haredisv1.BackupStatus `json:"backups,omitempty"`
	// LiveImport is the live import from a running Redis, when the
	// RedisFailover was created with one.
	LiveImport *haredisv1.LiveImportStatus `json:"liveImport,omitempty"`
	Conditions []metav1.Condition          `json:"conditions"`
	// Warnings say what could not be read (a permission, a missing pod).
	Warnings []string `json:"warnings,omitempty"`
}

// Verdict is the one-line summary.
type Verdict struct {
	State   string `json:"state"`
	Summary string `json:"summary"`
}

// InstanceReport is one Redis instance.
type InstanceReport struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Ready    bool   `json:"ready"`
	Server   string `json:"server,omitempty"`
	Node     string `json:"node,omitempty"`
	Zone     string `json:"zone,omitempty"`
	Offset   int64  `json:"replicationOffset"`
	LagBytes int64  `json:"lagBytes"`
	Restarts int32  `json:"restarts"`
	// Volume is the capacity of its volume; VolumeWanted the size asked
	// for when it differs (the volume grows); VolumeUsedPercent how full
	// it is, when the instance could tell.
	Volume            string   `json:"volume,omitempty"`
	VolumeWanted      string   `json:"volumeWanted,omitempty"`
	VolumeUsedPercent *int32   `json:"volumeUsedPercent,omitempty"`
	UpdatePending     bool     `json:"updatePending,omitempty"`
	PendingRestart    []string `json:"pendingRestart,omitempty"`
	// Pod is the phase of its pod; empty when it has none.
	Pod string `json:"pod,omitempty"`
}

// PodGroup is the sentinels or the proxies.
type PodGroup struct {
	Desired int32 `json:"desired"`
	Ready   int32 `json:"ready"`
	// Quorum is the number of sentinels that elect a new primary.
	Quorum int         `json:"quorum,omitempty"`
	Pods   []PodReport `json:"pods"`
}

// PodReport is one sentinel or proxy pod.
type PodReport struct {
	Name     string `json:"name"`
	Ready    bool   `json:"ready"`
	Phase    string `json:"phase"`
	Node     string `json:"node,omitempty"`
	Zone     string `json:"zone,omitempty"`
	Restarts int32  `json:"restarts"`
	// View is a sentinel's answer about the master, as the operator last
	// read it (status.sentinelViews); nil for proxies and before the first.
	View *haredisv1.SentinelView `json:"view,omitempty"`
}

// Status gathers the report of RedisFailover ns/name from its status and
// its pods (and their nodes' zones, when readable).
func Status(ctx context.Context, c client.Reader, ns, name string) (*StatusReport, error) {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	r := &StatusReport{
		Name: rf.Name, Namespace: rf.Namespace, Phase: string(rf.Status.Phase), Primary: rf.Status.CurrentPrimary,
		MasterName: rf.Status.MasterName, Endpoints: rf.Status.Endpoints,
		FailoverCount: rf.Status.FailoverCount, LastFailoverTime: rf.Status.LastFailoverTime, LastSwitchover: rf.Status.LastSwitchover,
		Conditions: sortedConditions(rf.Status.Conditions), Instances: []InstanceReport{},
		Backups: rf.Status.Backup, LiveImport: rf.Status.LiveImport,
	}
	pods := map[string][]corev1.Pod{}
	var list corev1.PodList
	podsKnown := true
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: rf.Name}); err != nil {
		podsKnown = false
		r.Warnings = append(r.Warnings, fmt.Sprintf("pods unknown: %v", explain(err, "list", "pods", ns, "the pods")))
	}
	for _, p := range list.Items {
		pods[p.Labels[specs.LabelComponent]] = append(pods[p.Labels[specs.LabelComponent]], p)
	}
	zones := &zoneReader{c: c, zones: map[string]string{}}
	byName := map[string]*corev1.Pod{}
	for i := range pods[specs.ComponentRedis] {
		p := &pods[specs.ComponentRedis][i]
		byName[p.Name] = p
	}
	for _, is := range rf.Status.Instances {
		ir := InstanceReport{Name: is.Name, Role: string(is.Role), Ready: is.Ready, Server: is.Server,
			Offset: is.ReplicationOffset, LagBytes: is.LagBytes, Volume: is.Storage, VolumeUsedPercent: is.StorageUsedPercent,
			UpdatePending: is.UpdatePending, PendingRestart: is.PendingRestart}
		if size := rf.Spec.Redis.Storage.Size; size != nil && is.Storage != "" && size.String() != is.Storage {
			ir.VolumeWanted = size.String()
		}
		if p := byName[is.Name]; p != nil {
			ir.Node, ir.Restarts, ir.Pod = p.Spec.NodeName, restarts(p), string(p.Status.Phase)
			ir.Zone = zones.of(ctx, p.Spec.NodeName)
		}
		r.Instances = append(r.Instances, ir)
	}
	sort.Slice(r.Instances, func(i, j int) bool { return serialLess(r.Instances[i].Name, r.Instances[j].Name) })
	sentinels, desired := pods[specs.ComponentSentinel], rf.Spec.Sentinel.Replicas
	if pns, pname, ok := strings.Cut(rf.Status.SentinelPool, "/"); ok {
		// On a SentinelPool: its sentinels, in the pool's namespace.
		r.SentinelPool = rf.Status.SentinelPool
		sentinels = nil
		var pl corev1.PodList
		if err := c.List(ctx, &pl, client.InNamespace(pns), client.MatchingLabels{haredisv1.LabelSentinelPool: pname}); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the pool's sentinels unknown: %v", explain(err, "list", "pods", pns, "the pool's pods")))
		} else {
			sentinels = pl.Items
		}
		sp := &haredisv1.SentinelPool{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: pns, Name: pname}, sp); err == nil {
			desired = sp.Spec.Replicas
		}
	}
	r.Sentinels = podGroup(ctx, sentinels, desired, zones)
	r.Sentinels.Quorum = quorum.Majority(int(desired))
	for i := range r.Sentinels.Pods {
		for _, v := range rf.Status.SentinelViews {
			if v.Name == r.Sentinels.Pods[i].Name {
				r.Sentinels.Pods[i].View = &v
			}
		}
	}
	if rf.ProxyEnabled() {
		g := podGroup(ctx, pods[specs.ComponentProxy], rf.Spec.Proxy.Replicas, zones)
		if !podsKnown {
			g.Ready = rf.Status.ReadyProxies
		}
		r.Proxies = &g
	}
	if zones.err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("zones unknown: %v", zones.err))
	}
	r.Verdict = verdict(rf, r)
	return r, nil
}

func podGroup(ctx context.Context, pods []corev1.Pod, desired int32, zones *zoneReader) PodGroup {
	g := PodGroup{Desired: desired, Pods: []PodReport{}}
	sort.Slice(pods, func(i, j int) bool { return serialLess(pods[i].Name, pods[j].Name) })
	for i := range pods {
		p := &pods[i]
		pr := PodReport{Name: p.Name, Ready: podReady(p), Phase: string(p.Status.Phase), Node: p.Spec.NodeName, Restarts: restarts(p)}
		if p.DeletionTimestamp != nil {
			pr.Phase = "Terminating"
		}
		pr.Zone = zones.of(ctx, p.Spec.NodeName)
		if pr.Ready {
			g.Ready++
		}
		g.Pods = append(g.Pods, pr)
	}
	return g
}

// zoneReader reads the zone label of nodes, once each; the first error
// (typically no permission to read nodes) stops it.
type zoneReader struct {
	c     client.Reader
	zones map[string]string
	err   error
}

func (z *zoneReader) of(ctx context.Context, node string) string {
	if node == "" || z.err != nil {
		return ""
	}
	if zone, ok := z.zones[node]; ok {
		return zone
	}
	n := &corev1.Node{}
	if err := z.c.Get(ctx, client.ObjectKey{Name: node}, n); err != nil {
		z.err = explain(err, "get", "nodes", "", "node "+node)
		return ""
	}
	z.zones[node] = n.Labels[corev1.LabelTopologyZone]
	return z.zones[node]
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// serialLess orders NAME-2 before NAME-10.
func serialLess(a, b string) bool {
	ia, ea := serial(a)
	ib, eb := serial(b)
	if ea == nil && eb == nil && a[:strings.LastIndex(a, "-")] == b[:strings.LastIndex(b, "-")] {
		return ia < ib
	}
	return a < b
}

func serial(name string) (int, error) {
	i := strings.LastIndex(name, "-")
	if i < 0 {
		return 0, fmt.Errorf("no serial")
	}
	return strconv.Atoi(name[i+1:])
}

// conditionOrder is the order the status lists conditions in.
var conditionOrder = []string{
	haredisv1.ConditionReady, haredisv1.ConditionDegraded, haredisv1.ConditionFailingOver, haredisv1.ConditionProgressing,
	haredisv1.ConditionConfigApplied, haredisv1.ConditionConfigInvalid, haredisv1.ConditionStorageResized,
	haredisv1.ConditionImageAccepted, haredisv1.ConditionDataCorrupt, haredisv1.ConditionPasswordSecretInSync,
	haredisv1.ConditionAuthDisabled,
}

func sortedConditions(cs []metav1.Condition) []metav1.Condition {
	rank := map[string]int{}
	for i, t := range conditionOrder {
		rank[t] = i + 1
	}
	out := append([]metav1.Condition{}, cs...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank[out[i].Type], rank[out[j].Type]
		if ri == 0 {
			ri = len(conditionOrder) + 1
		}
		if rj == 0 {
			rj = len(conditionOrder) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// badWhenTrue are the conditions that report a problem when True.
var badWhenTrue = map[string]bool{
	haredisv1.ConditionDegraded: true, haredisv1.ConditionFailingOver: true, haredisv1.ConditionConfigInvalid: true,
	haredisv1.ConditionDataCorrupt: true, haredisv1.ConditionAuthDisabled: true,
}

// conditionHealthy tells whether a condition reports no problem.
func conditionHealthy(c metav1.Condition) bool {
	if c.Type == haredisv1.ConditionProgressing {
		return true
	}
	return (c.Status == metav1.ConditionTrue) != badWhenTrue[c.Type]
}

func verdict(rf *haredisv1.RedisFailover, r *StatusReport) Verdict {
	cond := func(t string) *metav1.Condition { return meta.FindStatusCondition(rf.Status.Conditions, t) }
	ready, degraded, failing, progressing := cond(haredisv1.ConditionReady), cond(haredisv1.ConditionDegraded), cond(haredisv1.ConditionFailingOver), cond(haredisv1.ConditionProgressing)
	if ready == nil {
		return Verdict{StateUnknown, "not reported yet: the operator has not written a status (is it running?)"}
	}
	counts := countsLine(r)
	var v Verdict
	switch {
	case ready.Reason == haredisv1.ReasonHibernated || ready.Reason == haredisv1.ReasonHibernating:
		return Verdict{StateHibernated, firstSentence(ready.Message)}
	case ready.Reason == haredisv1.ReasonImporting:
		return Verdict{StateImporting, ready.Message}
	case ready.Reason == haredisv1.ReasonFenced || ready.Reason == haredisv1.ReasonFencing || ready.Reason == haredisv1.ReasonUnfencing:
		v = Verdict{StateFenced, fmt.Sprintf("%s: %s; %s", ready.Reason, firstSentence(ready.Message), counts)}
	case ready.Status == metav1.ConditionTrue && (degraded == nil || degraded.Status != metav1.ConditionTrue):
		v = Verdict{StateReady, fmt.Sprintf("primary %s takes writes; %s", r.Primary, counts)}
	case ready.Status == metav1.ConditionTrue:
		v = Verdict{StateDegraded, fmt.Sprintf("primary %s takes writes, with less redundancy than asked for: %s; %s", r.Primary, firstSentence(degraded.Message), counts)}
	case failing != nil && failing.Status == metav1.ConditionTrue:
		v = Verdict{StateFailingOver, fmt.Sprintf("%s: %s", failing.Reason, firstSentence(failing.Message))}
	case NoPrimary(rf) != nil:
		v = Verdict{StateNotServing, fmt.Sprintf("no primary takes writes: %s: %s", ready.Reason, firstSentence(ready.Message))}
	default:
		v = Verdict{StateNotReady, fmt.Sprintf("primary %s takes writes, but %s: %s; %s", r.Primary, ready.Reason, firstSentence(ready.Message), counts)}
	}
	if progressing != nil && progressing.Status == metav1.ConditionTrue {
		v.Summary += fmt.Sprintf("; %s under way", progressing.Reason)
	}
	if attention := needsAttention(rf.Status.Conditions); len(attention) > 0 {
		v.Summary += "; needs attention: " + strings.Join(attention, ", ")
	}
	return v
}

// needsAttention names the conditions besides Ready, Degraded,
// FailingOver and Progressing that report a problem a person must solve.
func needsAttention(cs []metav1.Condition) []string {
	var out []string
	for _, c := range sortedConditions(cs) {
		switch c.Type {
		case haredisv1.ConditionReady, haredisv1.ConditionDegraded, haredisv1.ConditionFailingOver, haredisv1.ConditionProgressing:
			continue
		case haredisv1.ConditionConfigApplied:
			continue // waits for a restart or an instance: the rolling update's business
		case haredisv1.ConditionStorageResized:
			if c.Reason != haredisv1.ReasonResizeRefused {
				continue
			}
		}
		if !conditionHealthy(c) {
			out = append(out, fmt.Sprintf("%s=%s (%s)", c.Type, c.Status, c.Reason))
		}
	}
	return out
}

func countsLine(r *StatusReport) string {
	ready := 0
	for _, i := range r.Instances {
		if i.Ready {
			ready++
		}
	}
	s := fmt.Sprintf("instances %d/%d, sentinels %d/%d", ready, len(r.Instances), r.Sentinels.Ready, r.Sentinels.Desired)
	if r.Proxies != nil {
		s += fmt.Sprintf(", proxies %d/%d", r.Proxies.Ready, r.Proxies.Desired)
	}
	return s + " ready"
}

// firstSentence keeps a condition message short enough for one line.
func firstSentence(m string) string {
	if i := strings.Index(m, ". "); i > 0 {
		return m[:i]
	}
	return strings.TrimSuffix(m, ".")
}

// ago is a short duration for humans: 5s, 3m, 2h, 4d.
func ago(now time.Time, t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	d := now.Sub(t.Time)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
