package controller

import (
	"errors"
	"testing"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/sentinel"
)

// TestMustTeach: a pool is taught a master only while the recorded primary
// waits for a failover and a pool sentinel that monitors the master knows
// fewer replicas than there are; a taught sentinel keeps its unreachable
// quorum while another still learns.
func TestMustTeach(t *testing.T) {
	const pool = "ns/shared"
	base := func() (*haredisv1.RedisFailover, *state) {
		rf := &haredisv1.RedisFailover{}
		rf.Name, rf.Namespace = "app", "ns"
		rf.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: "shared"}
		rf.Status.SentinelPool, rf.Status.CurrentPrimary = pool, "app-1"
		st := &state{pool: &haredisv1.SentinelPool{}, instances: []string{"app-1", "app-2", "app-3"}}
		st.statuses = map[string]*instanceapi.Status{
			"app-1": {Phase: instanceapi.PhaseWaiting},
			"app-2": {Role: instanceapi.RoleReplica, Promotable: true},
		}
		st.view.answers = []sentinel.Master{{Sentinel: "s1", Replicas: 2}, {Sentinel: "s2", Replicas: 0}, {Sentinel: "s3", Replicas: 2}}
		return rf, st
	}
	if rf, st := base(); !mustTeach(rf, st) {
		t.Fatal("a waiting primary, and a pool sentinel that knows no replica: not taught")
	}
	cases := map[string]func(*haredisv1.RedisFailover, *state){
		"dedicated sentinels":         func(_ *haredisv1.RedisFailover, st *state) { st.pool = nil },
		"moving off the pool":         func(rf *haredisv1.RedisFailover, _ *state) { rf.Spec.Sentinel.PoolRef = nil },
		"a single instance":           func(_ *haredisv1.RedisFailover, st *state) { st.instances = st.instances[:1] },
		"the primary runs":            func(_ *haredisv1.RedisFailover, st *state) { st.statuses["app-1"].Phase = instanceapi.PhaseRunning },
		"the primary does not answer": func(_ *haredisv1.RedisFailover, st *state) { delete(st.statuses, "app-1") },
		"hibernating":                 func(rf *haredisv1.RedisFailover, _ *state) { rf.Spec.Hibernate = true },
		"every sentinel knows every replica": func(_ *haredisv1.RedisFailover, st *state) {
			st.view.answers[1].Replicas = 2
		},
		"the one that knows none did not answer": func(_ *haredisv1.RedisFailover, st *state) {
			st.view.answers[1].Err = errors.New("i/o timeout")
		},
		"the one that knows none does not monitor the master": func(_ *haredisv1.RedisFailover, st *state) {
			st.view.answers[1].Unknown = true
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			rf, st := base()
			change(rf, st)
			if mustTeach(rf, st) {
				t.Error("taught")
			}
		})
	}
	for _, tc := range []struct {
		have   int
		taught bool
		held   bool
	}{
		{taughtQuorum, true, true},   // taught, while the pool learns
		{taughtQuorum, false, false}, // the key is gone: every sentinel knows every replica
		{3, true, false},             // a majority of 5 on a pool shrunk to 3 is lowered as ever
	} {
		if got := heldForTeaching(tc.have, tc.taught); got != tc.held {
			t.Errorf("heldForTeaching(%d, %v) = %v", tc.have, tc.taught, got)
		}
	}
	if taughtQuorum <= haredisv1.MaxPoolSentinels {
		t.Errorf("the taught quorum %d can be reached by a pool of %d", taughtQuorum, haredisv1.MaxPoolSentinels)
	}
}

// TestSameMasters: the pool restarts the next sentinel only once every one
// answers with the same masters (a restarted one got every master back).
func TestSameMasters(t *testing.T) {
	for _, tc := range []struct {
		masters map[string][]string
		n       int
		want    bool
	}{
		{map[string][]string{"a": {"m1", "m2"}, "b": {"m2", "m1"}, "c": {"m1", "m2"}}, 3, true},
		{map[string][]string{"a": {"m1", "m2"}, "b": {"m2"}, "c": {"m1", "m2"}}, 3, false},
		{map[string][]string{"a": {"m1"}, "b": {"m1"}}, 3, false}, // one did not answer
		{map[string][]string{"a": nil, "b": {}, "c": nil}, 3, true},
		{map[string][]string{"a": nil, "b": {"m1"}, "c": nil}, 3, false},
	} {
		if got := sameMasters(tc.masters, tc.n); got != tc.want {
			t.Errorf("sameMasters(%v, %d) = %v", tc.masters, tc.n, got)
		}
	}
}
