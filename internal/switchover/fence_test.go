package switchover

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// TestFenceHoldsThroughASlowPromotion: the target answers nothing for 4 s
// from the moment SENTINEL FAILOVER is sent, so Sentinel's promotion comes
// long after FenceTimeout and after the fence's first lease. The fence must
// hold all along, until the old primary is demoted: a client of the old
// primary that nobody paused gets no write acknowledged from the fence on,
// and nothing acknowledged is lost.
func TestFenceHoldsThroughASlowPromotion(t *testing.T) {
	// A down-after long enough that the sentinels keep their link to the
	// target open while it is paused, so the promotion command is not lost.
	s := redistest.NewSet(t, redistest.SetConfig{Password: password, Replicas: 2, Sentinels: 3, DownAfter: 20 * time.Second,
		Extra: []string{"min-replicas-to-write 1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, target := s.Servers[0], s.Servers[1]
	const stall = 4 * time.Second
	tc := target.Client()
	defer tc.Close()
	tap := &failoverTap{mode: passOn, onFailover: func() {
		if err := tc.Do(ctx, "CLIENT", "PAUSE", stall.Milliseconds(), "ALL").Err(); err != nil {
			t.Errorf("cannot stall the target: %v", err)
		}
	}}
	tap.armed.Store(true)
	p := tappedPlan(t, s, tap)
	p.FenceTimeout = time.Second
	var pausedAt time.Time
	p.Pause = func(context.Context) error { pausedAt = time.Now(); return nil }
	sentinelAware, plain := loads(ctx, t, s)

	res, err := Run(ctx, p)
	if err != nil {
		t.Fatalf("Run = %v, want the switchover done", err)
	}
	t.Logf("fenced %s, fence held %s, total %s", res.Fenced, res.FenceHeld, res.Total)
	if res.Fenced < stall-time.Second {
		t.Errorf("writes were held %s, less than the target's stall of %s: the test did not test", res.Fenced, stall)
	}
	// Writes sent before the fence may be acknowledged a moment after it.
	if n := plain.AckedSince(pausedAt.Add(500 * time.Millisecond)); n > 0 {
		t.Errorf("the old primary acknowledged %d writes while fenced", n)
	}
	redistest.WaitFor(t, 20*time.Second, "the sentinel to name the target", func(ctx context.Context) error {
		if a, err := s.MasterAddr(ctx); err != nil || a != target.Addr() {
			return fmt.Errorf("sentinel names %s (%v)", a, err)
		}
		if role, err := primary.Role(ctx); err != nil || role != "slave" {
			return fmt.Errorf("old primary role %q (%v)", role, err)
		}
		return nil
	})
	checkDurability(ctx, t, s, 1)
	if err := sentinelAware.WaitAcked(ctx, 100); err != nil {
		t.Fatal(err)
	}
	checkNothingLost(ctx, t, target, sentinelAware, plain)
}

// TestFenceRunsOutWithoutItsRenewer: while renewed, the fence holds writes
// past its lease; once nobody renews it (the operator died before Sentinel
// was asked), writes go through again within the lease.
func TestFenceRunsOutWithoutItsRenewer(t *testing.T) {
	srv, err := redistest.StartServer(redistest.ServerConfig{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &run{p: Plan{Primary: srv.Addr(), Password: password}}
	fc := redis.NewClient(r.fenceOptions())
	defer fc.Close()
	const lease = 400 * time.Millisecond
	f, err := startFence(ctx, fc, lease, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.stopRenewing()
	wc := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password, MaxRetries: -1, ReadTimeout: time.Minute})
	defer wc.Close()
	done := make(chan error, 1)
	go func() { done <- wc.Set(ctx, "k", "v", 0).Err() }()
	select {
	case err := <-done:
		t.Fatalf("a write went through (%v) while the fence was renewed", err)
	case <-time.After(5 * lease):
	}
	f.stopRenewing()
	stopped := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the write went through %s after the renewals stopped (lease %s)", time.Since(stopped).Round(time.Millisecond), lease)
	case <-time.After(lease + 2*time.Second):
		t.Fatalf("the fence outlived its renewer by more than %s", lease+2*time.Second)
	}
}
