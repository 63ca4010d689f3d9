package switchover

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/writeload"
)

// tappedPlan is plan with every sentinel reached through a proxy sharing
// tap.
func tappedPlan(t *testing.T, s *redistest.Set, tap *failoverTap) Plan {
	p := plan(t, s, s.Servers[0], s.Servers[1])
	p.Sentinels = nil
	for _, a := range s.SentinelAddrs() {
		p.Sentinels = append(p.Sentinels, startSentinelProxy(t, a, tap).Addr())
	}
	return p
}

// configEpochs returns every sentinel's config-epoch of the master: a
// failover that promotes a replica raises it by one.
func configEpochs(ctx context.Context, t *testing.T, s *redistest.Set) []string {
	t.Helper()
	var out []string
	for _, sn := range s.Sentinels {
		c := sn.SentinelClient()
		m, err := c.Master(ctx, s.Cfg.MasterName).Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m["config-epoch"])
	}
	return out
}

// loads starts a strict Sentinel-aware client and a plain client of the old
// primary (a REDIS_URL client that nobody paused), both writing.
func loads(ctx context.Context, t *testing.T, s *redistest.Set) (sentinelAware, plain *writeload.Load) {
	t.Helper()
	fc := strictFailoverClient(s)
	t.Cleanup(func() { fc.Close() })
	pc := redis.NewClient(&redis.Options{Addr: s.Servers[0].Addr(), Password: password, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { pc.Close() })
	sentinelAware = writeload.Start(ctx, fc, writeload.Options{Prefix: "sentinel", Interval: time.Millisecond})
	plain = writeload.Start(ctx, pc, writeload.Options{Prefix: "plain", Interval: time.Millisecond})
	for _, l := range []*writeload.Load{sentinelAware, plain} {
		if err := l.WaitAcked(ctx, 100); err != nil {
			t.Fatal(err)
		}
	}
	return sentinelAware, plain
}

// checkNothingLost stops the loads and fails if an acknowledged write is
// missing on primary, or the Sentinel-aware client got an error reply.
func checkNothingLost(ctx context.Context, t *testing.T, primary *redistest.Server, sentinelAware, plain *writeload.Load) {
	t.Helper()
	c := primary.Client()
	defer c.Close()
	for name, l := range map[string]*writeload.Load{"Sentinel-aware": sentinelAware, "plain": plain} {
		rep := l.Stop()
		t.Logf("%s client: %s", name, rep.Summary())
		lost, err := rep.Lost(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(lost) > 0 {
			t.Errorf("%s client: %d acknowledged writes lost, first %s", name, len(lost), lost[0])
		}
		if r := rep.ErrorReplies(); name == "Sentinel-aware" && len(r) > 0 {
			t.Errorf("%s client: %d error replies, first %q", name, len(r), r[0].Err)
		}
	}
}

// TestLostFailoverReplyIsResolvedBySentinels: the sentinel runs SENTINEL
// FAILOVER but its reply never comes. The switchover must find out from the
// sentinels that the failover started, never send a second SENTINEL
// FAILOVER, never lift the fence while the promotion may come, and finish
// the switchover: one failover (the config epoch one higher everywhere),
// nothing lost.
func TestLostFailoverReplyIsResolvedBySentinels(t *testing.T) {
	s := newSet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := configEpochs(ctx, t, s)
	tap := &failoverTap{mode: loseReply}
	tap.armed.Store(true)
	p := tappedPlan(t, s, tap)
	sentinelAware, plain := loads(ctx, t, s)

	res, err := Run(ctx, p)
	if err != nil {
		t.Fatalf("Run = %v, want the switchover done", err)
	}
	t.Logf("fenced %s, fence held %s, total %s", res.Fenced, res.FenceHeld, res.Total)
	if n := tap.failovers.Load(); n != 1 {
		t.Errorf("%d SENTINEL FAILOVER commands were sent, want 1", n)
	}
	target := s.Servers[1]
	redistest.WaitFor(t, 20*time.Second, "the sentinel to name the target", func(ctx context.Context) error {
		if a, err := s.MasterAddr(ctx); err != nil || a != target.Addr() {
			return fmt.Errorf("sentinel names %s (%v)", a, err)
		}
		return nil
	})
	after := configEpochs(ctx, t, s)
	for i := range before {
		if fmt.Sprint(atoi(t, before[i])+1) != after[i] {
			t.Errorf("sentinel %d: config-epoch %s -> %s, want one failover", i, before[i], after[i])
		}
	}
	if !res.DurabilityRestored() {
		t.Errorf("durability not restored: %+v", res.Durability)
	}
	checkDurability(ctx, t, s, 1)
	if err := sentinelAware.WaitAcked(ctx, 100); err != nil {
		t.Fatal(err)
	}
	checkNothingLost(ctx, t, target, sentinelAware, plain)
}

// TestLostFailoverCommandAbortsCleanly: SENTINEL FAILOVER never reaches
// the sentinel and no reply comes. Once the sentinel has closed the
// connection that carried it, the command can no longer run, and the
// sentinels show no failover: the switchover aborts without asking again,
// and the old primary serves.
func TestLostFailoverCommandAbortsCleanly(t *testing.T) {
	s := newSet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := configEpochs(ctx, t, s)
	tap := &failoverTap{mode: loseCommand}
	tap.armed.Store(true)
	p := tappedPlan(t, s, tap)
	var resumed []string
	p.Resume = func(_ context.Context, to string) { resumed = append(resumed, to) }
	sentinelAware, plain := loads(ctx, t, s)

	res, err := Run(ctx, p)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want ErrAborted", err)
	}
	t.Logf("Run: %v; fenced %s, fence held %s", err, res.Fenced, res.FenceHeld)
	if n := tap.failovers.Load(); n != 1 {
		t.Errorf("%d SENTINEL FAILOVER commands were sent, want 1", n)
	}
	if fmt.Sprint(resumed) != fmt.Sprint([]string{s.Servers[0].Addr()}) {
		t.Errorf("resumed to %q, want the old primary", resumed)
	}
	if after := configEpochs(ctx, t, s); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("config-epochs %v -> %v, want no failover", before, after)
	}
	if a, err := s.MasterAddr(ctx); err != nil || a != s.Servers[0].Addr() {
		t.Fatalf("sentinel names %s (%v), want the old primary", a, err)
	}
	if role, _ := s.Servers[1].Role(ctx); role != "slave" {
		t.Fatalf("target role %q, want slave", role)
	}
	if !res.DurabilityRestored() {
		t.Errorf("durability not restored: %+v", res.Durability)
	}
	checkDurability(ctx, t, s, 1)
	for _, l := range []*writeload.Load{sentinelAware, plain} {
		if err := l.WaitAcked(ctx, 100); err != nil {
			t.Fatalf("the old primary does not take writes after the abort: %v", err)
		}
	}
	checkNothingLost(ctx, t, s.Servers[0], sentinelAware, plain)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
