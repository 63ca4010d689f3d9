package sentinel

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMostAnswering(t *testing.T) {
	cases := map[string]struct {
		answers []Answer
		want    string
		ok      bool
	}{
		"none answered": {answers: []Answer{{Sentinel: "s1"}, {Sentinel: "s2"}}},
		"one answered":  {answers: []Answer{{Addr: "a:6379"}, {}}, want: "a:6379", ok: true},
		"agree":         {answers: []Answer{{Addr: "b:6379"}, {Addr: "b:6379"}}, want: "b:6379", ok: true},
		"split":         {answers: []Answer{{Addr: "a:6379"}, {Addr: "b:6379"}}},
		"two of three":  {answers: []Answer{{Addr: "a:6379"}, {Addr: "b:6379"}, {Addr: "b:6379"}}, want: "b:6379", ok: true},
		"two of four":   {answers: []Answer{{Addr: "a:6379"}, {Addr: "a:6379"}, {Addr: "b:6379"}, {Addr: "b:6379"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := MostAnswering(tc.answers)
			if got != tc.want || ok != tc.ok {
				t.Errorf("MostAnswering = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestEpochOfLeavesOutFailingOverSentinels: the leader of a failover
// already has the new configuration's epoch while it still gives the old
// address; counted, it would make the old address look as new as the
// +switch-master that follows.
func TestEpochOfLeavesOutFailingOverSentinels(t *testing.T) {
	answers := []Master{
		{Addr: "old:1", ConfigEpoch: 4, InFailover: true},
		{Addr: "old:1", ConfigEpoch: 3},
		{Addr: "old:1", ConfigEpoch: 2},
		{Addr: "new:1", ConfigEpoch: 5},
	}
	if got := EpochOf(answers, "old:1"); got != 3 {
		t.Errorf("EpochOf(old) = %d, want 3", got)
	}
	if got := EpochOf(answers, "new:1"); got != 5 {
		t.Errorf("EpochOf(new) = %d, want 5", got)
	}
	if got := EpochOf(answers, "none:1"); got != 0 {
		t.Errorf("EpochOf(none) = %d, want 0", got)
	}
}

func TestNamedByMajorityCountsSilentSentinels(t *testing.T) {
	cases := map[string]struct {
		answers    []Master
		configured int
		want       string
		ok         bool
	}{
		"two of three agree":       {answers: []Master{{Addr: "a:1"}, {Addr: "a:1"}, {Addr: "b:1"}}, configured: 3, want: "a:1", ok: true},
		"two answer of five":       {answers: []Master{{Addr: "a:1"}, {Addr: "a:1"}}, configured: 5},
		"three of five answer":     {answers: []Master{{Addr: "a:1"}, {Addr: "a:1"}, {Addr: "a:1"}}, configured: 5, want: "a:1", ok: true},
		"unknown master not named": {answers: []Master{{Unknown: true}, {Addr: "a:1"}, {Unknown: true}}, configured: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := NamedByMajority(tc.answers, tc.configured)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NamedByMajority = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestAskMasterReadsOnly asks a real sentinel: the answer names the
// primary and the sentinel's process, and asking changed nothing (the
// timings a Tune sets are not there).
func TestAskMasterReadsOnly(t *testing.T) {
	primary, err := redistest.StartServer(redistest.ServerConfig{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	s, err := redistest.StartSentinel(redistest.SentinelConfig{MasterName: "m", MasterAddr: primary.Addr(), Quorum: 1, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	got := AskMaster(ctx, []string{s.Addr(), "127.0.0.1:1"}, Access{Password: "pw"}, "m")
	if got[0].Err != nil || got[0].Addr != primary.Addr() || got[0].Quorum != 1 || got[0].RunID == "" {
		t.Errorf("the running sentinel answered %+v; want the primary %s, quorum 1 and a run_id", got[0], primary.Addr())
	}
	if got[1].Answered() {
		t.Errorf("a closed port answered: %+v", got[1])
	}
	if unknown := AskMaster(ctx, []string{s.Addr()}, Access{Password: "pw"}, "other"); !unknown[0].Unknown || !unknown[0].Answered() {
		t.Errorf("an unknown master: %+v; want answered and Unknown", unknown[0])
	}
	sc := Dial(s.Addr(), Access{Password: "pw"})
	defer sc.Close()
	cmd := redis.NewCmd(ctx, "SENTINEL", "DEBUG")
	if err := sc.Process(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprint(cmd.Val())
	if !strings.Contains(strings.ToLower(out), "ping-period:1000") {
		t.Errorf("asking changed the sentinel's timings (ping-period is not Sentinel's default 1000 ms): %s", out)
	}
}

// TestAskMasterNamesDownReplicas: a replica the sentinel flags down is
// named, so that no switchover goes to it yet.
func TestAskMasterNamesDownReplicas(t *testing.T) {
	primary, err := redistest.StartServer(redistest.ServerConfig{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	replica, err := redistest.StartServer(redistest.ServerConfig{Password: "pw", ReplicaOf: primary.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := redistest.StartSentinel(redistest.SentinelConfig{MasterName: "m", MasterAddr: primary.Addr(), Quorum: 1, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	redistest.WaitFor(t, 20*time.Second, "the sentinel knows the replica, up", func(ctx context.Context) error {
		m := AskMaster(ctx, []string{s.Addr()}, Access{Password: "pw"}, "m")[0]
		if m.Replicas != 1 || len(m.DownReplicas) != 0 {
			return fmt.Errorf("replicas %d, down %v", m.Replicas, m.DownReplicas)
		}
		return nil
	})
	addr := replica.Addr()
	replica.Close()
	redistest.WaitFor(t, 20*time.Second, "the stopped replica named down", func(ctx context.Context) error {
		m := AskMaster(ctx, []string{s.Addr()}, Access{Password: "pw"}, "m")[0]
		if len(m.DownReplicas) != 1 || m.DownReplicas[0] != addr {
			return fmt.Errorf("down %v, want [%s]", m.DownReplicas, addr)
		}
		return nil
	})
}
