package switchover

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/writeload"
)

const password = "switchover-test-password"

// newSet starts a primary, two replicas and three sentinels; the primary
// refuses writes with fewer than minReplicas replicas (haredis's default
// for three instances is 1).
func newSet(t *testing.T, minReplicas int) *redistest.Set {
	return redistest.NewSet(t, redistest.SetConfig{Password: password, Replicas: 2, Sentinels: 3, DownAfter: time.Second,
		Extra: []string{fmt.Sprintf("min-replicas-to-write %d", minReplicas)}})
}

func plan(t *testing.T, s *redistest.Set, primary, target *redistest.Server) Plan {
	var others []string
	for _, r := range s.Servers {
		if r != primary && r != target {
			others = append(others, r.Addr())
		}
	}
	return Plan{
		MasterName: s.Cfg.MasterName, Primary: primary.Addr(), Target: target.Addr(),
		PrimaryAnnounced: primary.Addr(), TargetAnnounced: target.Addr(),
		Replicas: others, Sentinels: s.SentinelAddrs(), Password: password, SentinelPassword: password,
		Log: testr.New(t),
	}
}

// TestSwitchoverLosesNoAcknowledgedWrite switches over three times in a
// row under a steady write load from Sentinel-aware clients that do not
// retry (go-redis, and redis-py when it is installed): the target becomes
// the primary Sentinel names, the old primary follows it, every
// acknowledged write is on the new primary, no client ever gets an error
// reply (NOREPLICAS, READONLY: all it may see is its connection to the old
// primary closing), the new primary takes writes the moment clients are
// resumed, also when it needs every replica (the old primary included) to
// acknowledge writes, and min-replicas-to-write is back everywhere.
func TestSwitchoverLosesNoAcknowledgedWrite(t *testing.T) {
	py := pythonWithRedis()
	for _, minReplicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("min-replicas-to-write %d", minReplicas), func(t *testing.T) { switchoverUnderLoad(t, minReplicas, py) })
	}
	if py == "" {
		t.Run("redis-py", func(t *testing.T) {
			t.Skip("redis-py is not installed, so only go-redis was checked; install it with hack/setup-packages.sh python3-redis")
		})
	}
}

// writer is a Sentinel-aware client writing PREFIX:N.
type writer interface {
	WaitAcked(ctx context.Context, n int) error
}

func switchoverUnderLoad(t *testing.T, minReplicas int, py string) {
	s := newSet(t, minReplicas)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fc := strictFailoverClient(s)
	defer fc.Close()
	goLoad := writeload.Start(ctx, fc, writeload.Options{Prefix: "go", Interval: time.Millisecond})
	writers := map[string]writer{"go-redis": goLoad}
	var pyLoad *pyWriter
	if py != "" {
		pyLoad = startPyWriter(t, py, s, "py")
		writers["redis-py"] = pyLoad
	}
	waitAll := func(what string) {
		t.Helper()
		for name, w := range writers {
			if err := w.WaitAcked(ctx, 200); err != nil {
				t.Fatalf("%s: %s: %v", name, what, err)
			}
		}
	}
	waitAll("writes do not start")

	downAfters := func() []string {
		var out []string
		for _, a := range s.SentinelAddrs() {
			sc := redis.NewSentinelClient(&redis.Options{Addr: a, Password: password})
			m, err := sc.Master(ctx, s.Cfg.MasterName).Result()
			sc.Close()
			if err != nil {
				t.Fatalf("sentinel %s: %v", a, err)
			}
			out = append(out, m["down-after-milliseconds"])
		}
		return out
	}
	before := downAfters()
	primary := s.Servers[0]
	for round, target := range []*redistest.Server{s.Servers[1], s.Servers[2], s.Servers[0]} {
		var events []string
		var writeAtResume error
		var downAfterFenced []string
		p := plan(t, s, primary, target)
		p.Pause = func(context.Context) error {
			events = append(events, "pause")
			downAfterFenced = downAfters()
			return nil
		}
		p.Resume = func(ctx context.Context, to string) {
			events = append(events, "resume "+to)
			// What a proxy does at once: write to the new primary.
			c := target.Client()
			defer c.Close()
			writeAtResume = c.Set(ctx, "at-resume", "1", 0).Err()
		}
		res, err := Run(ctx, p)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: fenced %s (held on the old primary %s), total %s, offset %d, old primary demoted %v, durability %+v",
			round, res.Fenced, res.FenceHeld, res.Total, res.FenceOffset, res.OldPrimaryDemoted, res.Durability)
		if len(res.Durability) != 2 || !res.DurabilityRestored() {
			t.Errorf("round %d: durability changes %+v, want min-replicas-to-write lowered on the old primary and the target, and restored", round, res.Durability)
		}
		if want := []string{"pause", "resume " + target.Addr()}; fmt.Sprint(events) != fmt.Sprint(want) {
			t.Errorf("round %d: hooks ran %q, want %q", round, events, want)
		}
		if writeAtResume != nil {
			t.Errorf("round %d: the new primary refused a write when clients were resumed: %v", round, writeAtResume)
		}
		// While writes were held, no sentinel could count the fenced
		// primary down on its own; afterwards each has its value back.
		for i, d := range downAfterFenced {
			if d == before[i] {
				t.Errorf("round %d: sentinel %d kept down-after %s ms while the fence held", round, i, d)
			}
		}
		if after := downAfters(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("round %d: down-after %v after the switchover, want %v back", round, after, before)
		}
		if role, err := target.Role(ctx); err != nil || role != "master" {
			t.Fatalf("round %d: target role %q (%v), want master", round, role, err)
		}
		redistest.WaitFor(t, 20*time.Second, "every sentinel to name the target", func(ctx context.Context) error {
			if a, err := s.MasterAddr(ctx); err != nil || a != target.Addr() {
				return fmt.Errorf("sentinel names %s (%v)", a, err)
			}
			if role, err := primary.Role(ctx); err != nil || role != "slave" {
				return fmt.Errorf("old primary role %q (%v)", role, err)
			}
			return nil
		})
		checkDurability(ctx, t, s, minReplicas)
		waitAll(fmt.Sprintf("round %d: writes do not resume", round))
		primary = target
	}
	c := primary.Client()
	defer c.Close()
	reports := map[string]writeload.Report{"go-redis": goLoad.Stop()}
	if pyLoad != nil {
		reports["redis-py"] = pyLoad.stop()
	}
	for name, rep := range reports {
		t.Logf("%s: %s", name, rep.Summary())
		for _, f := range rep.ConnectionErrors() {
			t.Logf("%s: connection error at %s: %s", name, f.At.Format("15:04:05.000"), f.Err)
		}
		if replies := rep.ErrorReplies(); len(replies) > 0 {
			t.Errorf("%s got %d error replies during the switchovers, first %q at %s", name, len(replies), replies[0].Err, replies[0].At.Format("15:04:05.000"))
		}
		lost, err := rep.Lost(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(lost) > 0 {
			t.Errorf("%s: %d acknowledged writes lost, first %s", name, len(lost), lost[0])
		}
	}
	// The target's preference is gone once it is primary.
	if v, err := c.ConfigGet(ctx, "replica-priority").Result(); err != nil || v["replica-priority"] != "100" {
		t.Errorf("replica-priority of the new primary %v (%v), want it restored to 100", v, err)
	}
}

// checkDurability fails unless every server has min-replicas-to-write want.
func checkDurability(ctx context.Context, t *testing.T, s *redistest.Set, want int) {
	t.Helper()
	for _, srv := range s.Servers {
		c := srv.Client()
		v, err := c.ConfigGet(ctx, "min-replicas-to-write").Result()
		c.Close()
		if err != nil || v["min-replicas-to-write"] != strconv.Itoa(want) {
			t.Errorf("%s: min-replicas-to-write %v (%v), want %d", srv.Addr(), v, err, want)
		}
	}
}

// TestSwitchoverRefusesATargetThatIsNoReplica: nothing starts, the primary
// keeps taking writes.
func TestSwitchoverRefusesATargetThatIsNoReplica(t *testing.T) {
	s := newSet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stray, err := redistest.StartServer(redistest.ServerConfig{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	p := plan(t, s, s.Servers[0], stray)
	p.Timeout = 3 * time.Second
	paused := false
	p.Pause = func(context.Context) error { paused = true; return nil }
	_, err = Run(ctx, p)
	if !errors.Is(err, ErrNotStarted) || !strings.Contains(err.Error(), "not a connected replica") {
		t.Fatalf("Run = %v, want ErrNotStarted naming the target", err)
	}
	if paused {
		t.Error("clients were paused although the switchover never started")
	}
	c := s.Servers[0].Client()
	defer c.Close()
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	if err := c.Set(wctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("the primary does not take writes: %v", err)
	}
}

// TestSwitchoverAbortsWhenAReplicaCannotCatchUp fences, finds a replica
// that cannot have every write, and lifts the fence without promoting
// anything: the old primary serves again and Sentinel still names it.
func TestSwitchoverAbortsWhenAReplicaCannotCatchUp(t *testing.T) {
	s := newSet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := s.Servers[0].Client()
	defer c.Close()
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stray, err := redistest.StartServer(redistest.ServerConfig{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	p := plan(t, s, s.Servers[0], s.Servers[1])
	// A "replica" that replicates nothing: the fence can never be complete.
	p.Replicas = append(p.Replicas, stray.Addr())
	var resumed []string
	p.Resume = func(_ context.Context, to string) { resumed = append(resumed, to) }
	_, err = Run(ctx, p)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want ErrAborted", err)
	}
	if fmt.Sprint(resumed) != fmt.Sprint([]string{s.Servers[0].Addr()}) {
		t.Errorf("resumed to %q, want the old primary", resumed)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	if err := c.Set(wctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("the old primary does not take writes after the abort: %v", err)
	}
	if a, err := s.MasterAddr(ctx); err != nil || a != s.Servers[0].Addr() {
		t.Fatalf("sentinel names %s (%v), want the old primary", a, err)
	}
	if role, _ := s.Servers[1].Role(ctx); role != "slave" {
		t.Fatalf("target role %q, want slave", role)
	}
}
