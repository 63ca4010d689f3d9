package controller

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/sentinel"
)

func testRF() *haredisv1.RedisFailover {
	return &haredisv1.RedisFailover{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", Generation: 2},
		Spec: haredisv1.RedisFailoverSpec{
			Redis:    haredisv1.RedisSpec{Replicas: 3},
			Sentinel: haredisv1.SentinelSpec{Replicas: 3},
			Proxy:    haredisv1.ProxySpec{Replicas: 2},
		},
		Status: haredisv1.RedisFailoverStatus{CurrentPrimary: "app-1", Phase: haredisv1.PhaseReady},
	}
}

func TestSerialOf(t *testing.T) {
	rf := testRF()
	cases := map[string]int{"app-1": 1, "app-12": 12, "app-0": 0, "app-01": 0, "app-x": 0, "other-1": 0, "app-sentinel-1": 0, "app-1-2": 0}
	for name, want := range cases {
		if got := serialOf(rf, name); got != want {
			t.Errorf("serialOf(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestPodReachInstanceAt(t *testing.T) {
	rf := testRF()
	cases := map[string]struct {
		host string
		port int
		want string
	}{
		"stable name":                {host: "app-2.app-headless.ns.svc.cluster.local", port: 6379, want: "app-2"},
		"trailing dot and case":      {host: "APP-2.app-headless.ns.svc.cluster.local.", port: 6379, want: "app-2"},
		"another namespace":          {host: "app-2.app-headless.other.svc.cluster.local", port: 6379},
		"another RedisFailover":      {host: "app-2.cache-headless.ns.svc.cluster.local", port: 6379},
		"wrong port":                 {host: "app-2.app-headless.ns.svc.cluster.local", port: 6380},
		"an IP is never an instance": {host: "10.0.0.5", port: 6379},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := (PodReach{}).InstanceAt(rf, tc.host, tc.port); got != tc.want {
				t.Errorf("InstanceAt = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetConditions(t *testing.T) {
	primary := &instanceapi.Status{Role: "primary", Ready: true}
	refusing := &instanceapi.Status{Role: "primary", Ready: true}
	refusing.Config.LastError = "Redis refused maxmemory-policy \"bogus\""
	replica := &instanceapi.Status{Role: "replica", Ready: true}
	allAgree := sentinelView{asked: 3, answered: 3, primary: "app-1", complete: 3}
	type want struct {
		Phase                                         haredisv1.Phase
		Ready, Degraded, FailingOver, Config, AuthOff string
	}
	cases := map[string]struct {
		mutate   func(*haredisv1.RedisFailover)
		st       state
		notReady []string
		// proxies ready; both by default
		proxies *int32
		want    want
		// readyHas: words the Ready condition's message must contain.
		readyHas string
	}{
		"no proxy ready": {
			st:      state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica}},
			proxies: ptr.To[int32](0),
			want:    want{haredisv1.PhaseDegraded, haredisv1.ReasonProxyNotReady, haredisv1.ReasonProxiesNotReady, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"one proxy of two": {
			st:      state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica}},
			proxies: ptr.To[int32](1),
			want:    want{haredisv1.PhaseReady, haredisv1.ReasonReady, haredisv1.ReasonProxiesNotReady, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"all well": {
			st:   state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica}},
			want: want{haredisv1.PhaseReady, haredisv1.ReasonReady, haredisv1.ReasonNotDegraded, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"sentinels have not discovered the replicas yet": {
			st:   state{view: sentinelView{asked: 3, answered: 3, primary: "app-1", complete: 1}, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica}},
			want: want{haredisv1.PhaseDegraded, haredisv1.ReasonSentinelsNotReady, haredisv1.ReasonReducedRedundancy, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"a proxy routes to a replica": {
			st: state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica},
				proxyMisroutes: []string{`proxy app-proxy-x sends commands to "app-2:6379" while the sentinels name app-1:6379`}},
			want:     want{haredisv1.PhaseDegraded, haredisv1.ReasonProxyNotReady, haredisv1.ReasonNotDegraded, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
			readyHas: "sends commands to",
		},
		"a sentinel refuses its repair": {
			st: state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica},
				sentinelErrors: []string{"cannot set the quorum of sentinel 10.0.0.9:26379 to 2: NOPERM"}},
			want:     want{haredisv1.PhaseDegraded, haredisv1.ReasonSentinelsNotReady, haredisv1.ReasonReducedRedundancy, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
			readyHas: "cannot set the quorum of sentinel 10.0.0.9:26379 to 2: NOPERM",
		},
		"a replica down": {
			st:       state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica}},
			notReady: []string{"app-3"},
			want:     want{haredisv1.PhaseDegraded, haredisv1.ReasonInstancesNotReady, haredisv1.ReasonReducedRedundancy, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"sentinels without a majority": {
			st:   state{view: sentinelView{asked: 3, answered: 2}, statuses: map[string]*instanceapi.Status{"app-2": replica, "app-3": replica}},
			want: want{haredisv1.PhaseFailingOver, haredisv1.ReasonPrimaryUnavailable, haredisv1.ReasonWritesNotAccepted, haredisv1.ReasonNoSentinelMajority, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"elected primary still a replica": {
			mutate: func(rf *haredisv1.RedisFailover) { rf.Status.CurrentPrimary = "app-2" },
			st:     state{view: sentinelView{asked: 3, answered: 3, primary: "app-2", complete: 3}, statuses: map[string]*instanceapi.Status{"app-2": replica}},
			want:   want{haredisv1.PhaseFailingOver, haredisv1.ReasonPrimaryNotReady, haredisv1.ReasonWritesNotAccepted, haredisv1.ReasonPromotionInProgress, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"primary waits for a failover that a replica allows": {
			mutate: func(rf *haredisv1.RedisFailover) { rf.Status.CurrentPrimary = "app-1" },
			st: state{view: allAgree, instances: []string{"app-1", "app-2", "app-3"}, statuses: map[string]*instanceapi.Status{
				"app-1": {Role: "unknown", Phase: instanceapi.PhaseWaiting, LastDecision: &instanceapi.DecisionRecord{Decision: bootrole.Decision{Action: bootrole.Wait, Reason: "restarted as recorded primary while app-2 hold data"}}},
				"app-2": {Role: "replica", Ready: true, Promotable: true},
				"app-3": {Role: "replica", Ready: true, PromotableReason: "holds no data"},
			}},
			want:     want{haredisv1.PhaseFailingOver, haredisv1.ReasonPrimaryWaiting, haredisv1.ReasonWritesNotAccepted, haredisv1.ReasonPrimaryDown, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
			readyHas: "the sentinels fail over to one of app-2",
		},
		"primary waits and no replica can be promoted": {
			st: state{view: allAgree, instances: []string{"app-1", "app-2"}, statuses: map[string]*instanceapi.Status{
				"app-1": {Role: "unknown", Phase: instanceapi.PhaseWaiting, LastDecision: &instanceapi.DecisionRecord{Decision: bootrole.Decision{Action: bootrole.Wait, Reason: "kubectl annotate redisfailovers.haredis.dev app haredis.dev/force-primary=INSTANCE"}}},
				"app-2": {Role: "replica", PromotableReason: "app-1 holds newer data"},
			}},
			want:     want{haredisv1.PhaseDegraded, haredisv1.ReasonPrimaryWaiting, haredisv1.ReasonWritesNotAccepted, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
			readyHas: "no replica can be promoted yet: app-2 (app-1 holds newer data)",
		},
		"the primary takes writes but its pod is not marked ready yet": {
			st: state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary, "app-2": replica, "app-3": replica},
				pods: map[string]*corev1.Pod{"app-1": {}}},
			want:     want{haredisv1.PhaseDegraded, haredisv1.ReasonPrimaryNotReady, haredisv1.ReasonWritesNotAccepted, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
			readyHas: "app-primary does not reach it yet",
		},
		"the primary takes writes, its pod not ready yet, replicas promotable": {
			st: state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary,
				"app-2": {Role: "replica", Ready: true, Promotable: true}, "app-3": {Role: "replica", Ready: true, Promotable: true}},
				pods: map[string]*corev1.Pod{"app-1": {}}},
			want:     want{haredisv1.PhaseDegraded, haredisv1.ReasonPrimaryNotReady, haredisv1.ReasonWritesNotAccepted, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
			readyHas: "app-primary does not reach it yet",
		},
		"creating stays creating": {
			mutate:   func(rf *haredisv1.RedisFailover) { rf.Status.Phase = haredisv1.PhaseCreating },
			st:       state{view: allAgree, statuses: map[string]*instanceapi.Status{"app-1": primary}},
			notReady: []string{"app-2", "app-3"},
			want:     want{haredisv1.PhaseCreating, haredisv1.ReasonInstancesNotReady, haredisv1.ReasonReducedRedundancy, haredisv1.ReasonStable, haredisv1.ReasonConfigAccepted, haredisv1.ReasonAuthEnabled},
		},
		"refused config and auth off": {
			mutate: func(rf *haredisv1.RedisFailover) { rf.Spec.Auth.Enabled = ptr.To(false) },
			st: state{view: allAgree, instances: []string{"app-1"}, statuses: map[string]*instanceapi.Status{
				"app-1": refusing, "app-2": replica, "app-3": replica,
			}},
			want: want{haredisv1.PhaseReady, haredisv1.ReasonReady, haredisv1.ReasonNotDegraded, haredisv1.ReasonStable, haredisv1.ReasonRedisRefusedConfig, haredisv1.ReasonAuthDisabled},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rf := testRF()
			if tc.mutate != nil {
				tc.mutate(rf)
			}
			if tc.st.instances == nil {
				tc.st.instances = []string{"app-1", "app-2", "app-3"}
			}
			tc.st.readyProxies = 2
			tc.st.sentinelCount = int(rf.Spec.Sentinel.Replicas)
			if tc.proxies != nil {
				tc.st.readyProxies = *tc.proxies
			}
			(&RedisFailoverReconciler{}).setConditions(rf, &tc.st, tc.notReady)
			reason := func(ct string) string {
				c := meta.FindStatusCondition(rf.Status.Conditions, ct)
				if c == nil {
					return ""
				}
				return c.Reason
			}
			got := want{rf.Status.Phase, reason(haredisv1.ConditionReady), reason(haredisv1.ConditionDegraded), reason(haredisv1.ConditionFailingOver), reason(haredisv1.ConditionConfigInvalid), reason(haredisv1.ConditionAuthDisabled)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady); !strings.Contains(c.Message, tc.readyHas) {
				t.Errorf("Ready says %q, want it to mention %q", c.Message, tc.readyHas)
			}
		})
	}
}

func TestNextUpdate(t *testing.T) {
	m := func(name string, primary, current, ready bool) memberState {
		return memberState{name: name, hasPod: true, primary: primary, current: current, ready: ready, lagBytes: 0}
	}
	s := func(name string, current bool) sentinelState {
		return sentinelState{name: name, hasPod: true, current: current}
	}
	allSentinels := []sentinelState{s("app-sentinel-1", true), s("app-sentinel-2", true), s("app-sentinel-3", true)}
	cases := map[string]struct {
		reason string
		in     updateInput
		want   updateStep
	}{
		"nothing to do": {
			reason: "every pod runs the current revision",
			in:     updateInput{members: []memberState{m("app-1", true, true, true), m("app-2", false, true, true)}, sentinels: allSentinels, sentinelsHealthy: true},
			want:   updateStep{kind: updateNone},
		},
		"replicas first": {
			reason: "an outdated replica goes before the outdated primary",
			in:     updateInput{members: []memberState{m("app-1", true, false, true), m("app-2", false, false, true), m("app-3", false, true, true)}, sentinels: allSentinels, sentinelsHealthy: true},
			want:   updateStep{kind: updateDeletePod, target: "app-2"},
		},
		"one at a time": {
			reason: "a replica that is not back in sync holds the next one",
			in:     updateInput{members: []memberState{m("app-1", true, false, true), m("app-2", false, true, false), m("app-3", false, false, true)}, sentinels: allSentinels, sentinelsHealthy: true},
			want:   updateStep{kind: updateWait},
		},
		"a missing pod holds everything": {
			reason: "a replaced pod must be back first",
			in: updateInput{members: []memberState{m("app-1", true, false, true), {name: "app-2"}, m("app-3", false, false, true)},
				sentinels: allSentinels, sentinelsHealthy: true},
			want: updateStep{kind: updateWait},
		},
		"a broken outdated replica goes at once": {
			reason: "replacing a replica that does not serve takes nothing away",
			in:     updateInput{members: []memberState{m("app-1", true, false, true), m("app-2", false, true, true), m("app-3", false, false, false)}, sentinels: allSentinels},
			want:   updateStep{kind: updateDeletePod, target: "app-3"},
		},
		"sentinels before the primary": {
			reason: "outdated sentinels are replaced while every instance is ready",
			in: updateInput{members: []memberState{m("app-1", true, false, true), m("app-2", false, true, true)},
				sentinels: []sentinelState{s("app-sentinel-1", true), s("app-sentinel-2", false), s("app-sentinel-3", true)}, sentinelsHealthy: true},
			want: updateStep{kind: updateDeleteSentinel, target: "app-sentinel-2"},
		},
		"sentinels must be whole": {
			reason: "no step while a sentinel does not know every replica and peer",
			in: updateInput{members: []memberState{m("app-1", true, true, true), m("app-2", false, true, true)},
				sentinels: []sentinelState{s("app-sentinel-1", false), s("app-sentinel-2", true), s("app-sentinel-3", true)}},
			want: updateStep{kind: updateWait},
		},
		"switchover to the closest replica": {
			reason: "the primary goes last, after a switchover to the replica with the least lag",
			in: updateInput{members: []memberState{m("app-1", true, false, true), {name: "app-2", hasPod: true, current: true, ready: true, lagBytes: 90},
				{name: "app-3", hasPod: true, current: true, ready: true, lagBytes: 3}}, sentinels: allSentinels, sentinelsHealthy: true},
			want: updateStep{kind: updateSwitchover, target: "app-3"},
		},
		"restart-only parameter": {
			reason: "a parameter Redis cannot change live rolls the pods like a new spec",
			in: updateInput{members: []memberState{m("app-1", true, true, true), {name: "app-2", hasPod: true, current: true, ready: true, pendingRestart: []string{"databases"}}},
				sentinels: allSentinels, sentinelsHealthy: true},
			want: updateStep{kind: updateDeletePod, target: "app-2"},
		},
		"a failed switchover is not retried at once": {
			reason: "the rolling update waits after a failed switchover",
			in:     updateInput{members: []memberState{m("app-1", true, false, true), m("app-2", false, true, true)}, sentinels: allSentinels, sentinelsHealthy: true, switchoverBlocked: true},
			want:   updateStep{kind: updateWait},
		},
		"a single instance": {
			reason: "without replicas the only instance is replaced, with downtime",
			in:     updateInput{members: []memberState{m("app-1", true, false, true)}, sentinels: allSentinels, sentinelsHealthy: true},
			want:   updateStep{kind: updateDeletePod, target: "app-1"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := nextUpdate(tc.in)
			got.message = ""
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(updateStep{})); diff != "" {
				t.Errorf("%s\n(-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestQuorumToSet(t *testing.T) {
	cases := []struct {
		name            string
		have, want      int
		allPresent, set bool
	}{
		{"same quorum", 2, 2, true, false},
		{"fewer sentinels: lower at once", 3, 2, false, true},
		{"fewer sentinels, all present", 3, 2, true, true},
		{"more sentinels, new ones not up yet", 2, 3, false, false},
		{"more sentinels, all up", 2, 3, true, true},
	}
	for _, c := range cases {
		if got := quorumToSet(c.have, c.want, c.allPresent); got != c.set {
			t.Errorf("%s: quorumToSet(%d, %d, %v) = %v, want %v", c.name, c.have, c.want, c.allPresent, got, c.set)
		}
	}
}

func TestExtraPrimaryIsNoReadyReplica(t *testing.T) {
	rf := testRF()
	rf.Status.CurrentPrimary = "app-2"
	cases := map[string]struct {
		name string
		s    *instanceapi.Status
		want bool
	}{
		"old primary back after a failover": {"app-1", &instanceapi.Status{Role: "primary", Ready: true}, true},
		"the primary itself":                {"app-2", &instanceapi.Status{Role: "primary", Ready: true}, false},
		"a replica":                         {"app-3", &instanceapi.Status{Role: "replica", Ready: true}, false},
		"no answer":                         {"app-1", nil, false},
	}
	for name, c := range cases {
		got := extraPrimary(rf, c.name, c.s)
		if (got != "") != c.want {
			t.Errorf("%s: extraPrimary = %q, want a reason: %v", name, got, c.want)
		}
		if got != "" && !strings.Contains(got, "app-2") {
			t.Errorf("%s: %q does not name the sentinels' primary", name, got)
		}
	}
}

func TestStatusChangedIgnoresMovingOffsets(t *testing.T) {
	base := func(offset, lag int64) *haredisv1.RedisFailoverStatus {
		return &haredisv1.RedisFailoverStatus{CurrentPrimary: "app-1", Instances: []haredisv1.InstanceStatus{
			{Name: "app-1", Role: haredisv1.RolePrimary, Ready: true, ReplicationOffset: offset},
			{Name: "app-2", Role: haredisv1.RoleReplica, Ready: true, ReplicationOffset: offset - lag, LagBytes: lag},
		}}
	}
	cases := map[string]struct {
		after *haredisv1.RedisFailoverStatus
		want  bool
	}{
		"offsets moved":               {after: base(9_000_000, 0), want: false},
		"small lag came":              {after: base(9_000_000, 300_000), want: false},
		"lag of megabytes":            {after: base(9_000_000, 5<<20), want: true},
		"replica not ready":           {after: func() *haredisv1.RedisFailoverStatus { s := base(1000, 0); s.Instances[1].Ready = false; return s }(), want: true},
		"primary changed with offset": {after: func() *haredisv1.RedisFailoverStatus { s := base(2000, 0); s.CurrentPrimary = "app-2"; return s }(), want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := statusChanged(base(1000, 0), tc.after); got != tc.want {
				t.Errorf("statusChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLagClass(t *testing.T) {
	for _, c := range []struct{ lag, want int64 }{{-1, 0}, {0, 0}, {1<<20 - 1, 0}, {1 << 20, 1}, {16<<20 - 1, 1}, {16 << 20, 2}, {1 << 62, 8}} {
		if got := lagClass(c.lag); got != c.want {
			t.Errorf("lagClass(%d) = %d, want %d", c.lag, got, c.want)
		}
	}
}

func TestViewOfCountsAllConfiguredSentinels(t *testing.T) {
	rf := &haredisv1.RedisFailover{}
	rf.Spec.Redis.Replicas, rf.Spec.Sentinel.Replicas = 3, 3
	answers := []sentinel.Master{
		{Sentinel: "s1", Addr: "a:6379", Replicas: 2, Peers: 2, Quorum: 2},
		{Sentinel: "s2", Addr: "a:6379", Replicas: 3, Peers: 2, Quorum: 2},
		{Sentinel: "s3", Unknown: true},
	}
	v := viewOf(rf, answers, 3, int(rf.Spec.Sentinel.Replicas))
	if v.addr != "a:6379" || v.asked != 3 || v.answered != 3 || v.complete != 2 {
		t.Errorf("view = %+v; want a:6379 named, 3 asked and answered, 2 complete", v)
	}
	if len(v.lost) != 1 || v.lost[0] != "s3" || len(v.stale) != 1 || v.stale[0] != "s2" {
		t.Errorf("lost %v, stale %v; want [s3] and [s2]", v.lost, v.stale)
	}
	if len(v.tunable) != 2 || v.tunable["s1"] != "" {
		t.Errorf("tunable %v; want the two that monitor the master", v.tunable)
	}
	// One of three naming a primary is no majority, whatever the others say.
	if v := viewOf(rf, answers[:1], 3, int(rf.Spec.Sentinel.Replicas)); v.addr != "" {
		t.Errorf("one answer of three named %q", v.addr)
	}
}

func TestRefusedImageReplacesNoPod(t *testing.T) {
	in := updateInput{
		members: []memberState{
			{name: "app-1", hasPod: true, primary: true, current: false, ready: true},
			{name: "app-2", hasPod: true, current: false, ready: false},
		},
		sentinelsHealthy: true,
		imageRefused:     "spec.redis.image redis:7.0: moving from valkey 8.0.1 to redis 7.0.0 ...",
	}
	got := nextUpdate(in)
	if got.kind != updateWait || !strings.Contains(got.message, "no pod is replaced") {
		t.Errorf("nextUpdate with a refused image = %+v; want a wait that replaces nothing, even the replica that is not ready", got)
	}
}

// TestSwitchMasterOutranksOnlyOlderViews: a +switch-master moves the role
// labels before the majority of sentinels names its primary, but only while
// the majority's configuration is older and for switchTrust; an older
// announcement never replaces a newer one.
func TestSwitchMasterOutranksOnlyOlderViews(t *testing.T) {
	r := &RedisFailoverReconciler{}
	rf := testRF()
	rf.UID = "uid-1"
	stale := sentinelView{primary: "app-1", epoch: 3}
	if got := r.electedPrimary(rf, stale); got != "app-1" {
		t.Fatalf("without an announcement: %q, want the majority's app-1", got)
	}
	if !r.recordSwitch(rf, switchSeen{primary: "app-2", epoch: 4, at: time.Now()}) {
		t.Fatal("a first announcement was not kept")
	}
	if got := r.electedPrimary(rf, stale); got != "app-2" {
		t.Errorf("majority at epoch 3, announcement at 4: %q, want app-2", got)
	}
	if got := r.electedPrimary(rf, sentinelView{}); got != "app-2" {
		t.Errorf("no majority, announcement at 4: %q, want app-2", got)
	}
	if got := r.electedPrimary(rf, sentinelView{primary: "app-3", epoch: 4}); got != "app-3" {
		t.Errorf("majority caught up at epoch 4: %q, want the majority's app-3", got)
	}
	if r.recordSwitch(rf, switchSeen{primary: "app-1", epoch: 3, at: time.Now()}) {
		t.Error("an older announcement replaced a newer one")
	}
	if got := r.newerSwitch(rf, 3); got != "app-2" {
		t.Errorf("after an older announcement: %q, want app-2", got)
	}
	r.recordSwitch(rf, switchSeen{primary: "app-3", epoch: 9, at: time.Now().Add(-switchTrust - time.Second)})
	if got := r.electedPrimary(rf, stale); got != "app-1" {
		t.Errorf("announcement older than switchTrust: %q, want the majority's app-1", got)
	}
	// Sentinels created again count epochs from 0: once the kept
	// announcement is older than switchTrust, theirs is followed.
	if !r.recordSwitch(rf, switchSeen{primary: "app-2", epoch: 1, at: time.Now()}) {
		t.Error("an announcement after switchTrust was refused for the epoch of an old one")
	}
	if got := r.newerSwitch(rf, 0); got != "app-2" {
		t.Errorf("after sentinels created again: %q, want app-2", got)
	}
	r.forgetLabels(rf.UID)
	if got := r.newerSwitch(rf, 0); got != "" {
		t.Errorf("after forgetLabels: %q", got)
	}
}

// TestFenceState: the API's fence value is the one the instance managers
// know, and Ready says whether the fence is asked for, in force, or still
// in force while lifted.
func TestFenceState(t *testing.T) {
	if haredisv1.FencedMinReplicasToWrite != instanceapi.FenceMinReplicasToWrite {
		t.Fatalf("the API fences with %d, the instance manager knows %d", haredisv1.FencedMinReplicasToWrite, instanceapi.FenceMinReplicasToWrite)
	}
	rf := testRF()
	fenced := &instanceapi.Status{DurabilityLive: &instanceapi.Durability{MinReplicasToWrite: instanceapi.FenceMinReplicasToWrite, MaxLagSeconds: 10}}
	open := &instanceapi.Status{DurabilityLive: &instanceapi.Durability{MinReplicasToWrite: 1, MaxLagSeconds: 10}}
	cases := []struct {
		spec bool
		ps   *instanceapi.Status
		want string
	}{
		{false, open, ""},
		{false, nil, ""},
		{true, open, haredisv1.ReasonFencing},
		{true, nil, haredisv1.ReasonFencing},
		{true, fenced, haredisv1.ReasonFenced},
		{false, fenced, haredisv1.ReasonUnfencing},
	}
	for _, c := range cases {
		rf.Spec.Fenced = c.spec
		if got, _ := fenceState(rf, c.ps); got != c.want {
			t.Errorf("spec.fenced %v, live %+v: %q, want %q", c.spec, c.ps, got, c.want)
		}
	}
	rf.Spec.Fenced = true
	if m, _ := rf.EffectiveDurability(); m != haredisv1.FencedMinReplicasToWrite {
		t.Errorf("fenced durability %d", m)
	}
}

// TestTerminatingPrimaryTakesNoWrites: a primary whose pod is being
// deleted has left NAME-primary's endpoints, although its manager still
// says it takes writes: the status must not claim it does.
func TestTerminatingPrimaryTakesNoWrites(t *testing.T) {
	rf := testRF()
	ready := corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app-1"}, Status: ready}
	st := &state{
		pods:     map[string]*corev1.Pod{"app-1": pod},
		statuses: map[string]*instanceapi.Status{"app-1": {Role: instanceapi.RolePrimary, Ready: true}},
	}
	if ok, reason, msg := writesBlocked(rf, st); !ok {
		t.Fatalf("a ready primary: blocked (%s: %s)", reason, msg)
	}
	pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	ok, reason, msg := writesBlocked(rf, st)
	if ok || reason != haredisv1.ReasonPrimaryNotReady || !strings.Contains(msg, "being deleted") {
		t.Errorf("a terminating primary: ok %v, %s: %s", ok, reason, msg)
	}
}

// A difference is drift, worth a ConfigRestored warning, when the instance
// had been given the current generation, also on a pod whose recorded
// generation the operator has not written yet (a pod just started from
// instance.json); a new generation not yet applied is no drift.
func TestDriftNeedsNoRecordedGeneration(t *testing.T) {
	rf := testRF()
	for _, c := range []struct {
		name      string
		running   int64
		sent      int64
		wantDrift bool
	}{
		{"recorded on the pod", 2, 2, true},
		{"started with it, not recorded yet", 2, 0, true},
		{"a new generation to send", 1, 1, false},
		{"a new pod of an older generation", 1, 0, false},
	} {
		s := &instanceapi.Status{}
		s.Config.Generation = c.running
		if got := isDrift(rf, s, c.sent); got != c.wantDrift {
			t.Errorf("%s: drift %v, want %v", c.name, got, c.wantDrift)
		}
	}
}
