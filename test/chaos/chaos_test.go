package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/haredis/haredis/test/operatorbed"
)

var (
	bedOnce sync.Once
	bedEnv  *operatorbed.Env
	bedErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if bedEnv != nil {
		if err := bedEnv.Stop(); err != nil {
			fmt.Printf("cannot stop the bed: %v\n", err)
		}
	}
	os.Exit(code)
}

// bed starts the test bed with the operator once for the package; the
// suite skips under -short and when not root, like test/e2e.
func bed(t *testing.T) *operatorbed.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("the fault suite runs on the test bed; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("the test bed needs root; skipping the fault suite")
	}
	bedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		level := slog.LevelWarn
		if os.Getenv("BED_VERBOSE") != "" {
			level = slog.LevelInfo
		}
		log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		ctrllog.SetLogger(log)
		QuietRedisLog()
		bedEnv, bedErr = operatorbed.Start(ctx, log)
	})
	if bedErr != nil {
		t.Fatal(bedErr)
	}
	return bedEnv
}

// TestChaos runs the sequences CHAOS_SEED, CHAOS_SEEDS and CHAOS_STEPS ask
// for (by default the fixed seeds of DefaultSeeds with DefaultSteps steps
// each), or the plan of the file CHAOS_PLAN, one after the other on one
// bed, and fails on any broken invariant.
// A failed sequence prints its seed and steps: `make chaos SEED=N` replays
// it.
func TestChaos(t *testing.T) {
	seeds, steps, err := SeedsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	custom, err := PlanFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if custom != nil {
		seeds, steps = []uint64{custom.Seed}, len(custom.Steps)
	}
	restore, err := RestoreFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	env := bed(t)
	var store *RestoreStore
	if restore != "none" {
		var stop func()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		store, stop, err = StartRestoreStore(ctx, env)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	var total Totals
	for i, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), SequenceTimeout(steps))
			defer cancel()
			plan := NewPlan(seed, steps)
			if custom != nil {
				plan = *custom
			}
			start := time.Now()
			o := Options{Logf: t.Logf, Pool: os.Getenv("CHAOS_POOL") != ""}
			if restore == "all" || (restore == "first" && i == 0) {
				o.Restore = store
			}
			res := Run(ctx, env, plan, o)
			total.Add(res)
			t.Logf("sequence took %s\n%s", time.Since(start).Round(time.Second), res.Report())
			if res.Failed() {
				t.Errorf("seed %d broke %d invariants; replay with: make chaos SEED=%d CHAOS_STEPS=%d\n%s", seed, len(res.Violations), seed, steps, res.Report())
			}
		})
	}
	t.Log(total.Line())
}

func TestPlanIsDeterministic(t *testing.T) {
	for seed := range uint64(50) {
		a, b := NewPlan(seed, 8), NewPlan(seed, 12)
		if a.String() != NewPlan(seed, 8).String() {
			t.Fatalf("seed %d: two plans differ", seed)
		}
		for i := range a.Steps {
			if a.Steps[i].Name() != b.Steps[i].Name() {
				t.Fatalf("seed %d: step %d is %q in a plan of 8 and %q in one of 12", seed, i+1, a.Steps[i].Name(), b.Steps[i].Name())
			}
		}
	}
}

// TestPlanIsValid replays the spec changes of many plans: the counts stay
// between 2 and 4 and minReplicasToWrite below the count, as the schema
// requires; every kind of step is drawn.
func TestPlanIsValid(t *testing.T) {
	kinds := map[Kind]int{}
	for seed := range uint64(500) {
		p := NewPlan(seed, 10)
		replicas := p.Replicas
		var minReplicas *int32
		for i, s := range p.Steps {
			kinds[s.Kind]++
			if s.Kind == Double {
				if s.First == nil || s.Second == nil || s.First.Planned() && s.Second.Planned() {
					t.Errorf("seed %d step %d: %s", seed, i+1, s.Name())
				}
			}
			if s.Kind == Scale {
				if s.From != replicas {
					t.Errorf("seed %d step %d: scale from %d, the spec has %d", seed, i+1, s.From, replicas)
				}
				replicas = s.To
			}
			if s.SetDurability {
				minReplicas = s.MinReplicasToWrite
			}
			if replicas < 2 || replicas > 4 {
				t.Errorf("seed %d step %d: %d instances", seed, i+1, replicas)
			}
			if minReplicas != nil && *minReplicas >= replicas {
				t.Errorf("seed %d step %d (%s): minReplicasToWrite %d with %d instances", seed, i+1, s.Name(), *minReplicas, replicas)
			}
		}
	}
	for _, k := range []Kind{KillRedis, KillManager, KillSentinel, DeletePod, DeleteAll, Recreate, Partition, Double, Switchover, Scale,
		Config, Durability, Persistence, Rolling, OperatorDownSwitchover, OperatorDownRolling, DeleteAuthSecret} {
		if kinds[k] == 0 {
			t.Errorf("no %s drawn in 500 plans", k)
		}
	}
}

func TestWrongStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// samples every 250 ms over 30 s; ready unless in a not-ready range.
	samples := func(notReady ...[2]int) []sample {
		var ss []sample
		for ms := 0; ms <= 30000; ms += 250 {
			s := sample{at: at(ms), found: true, ready: true}
			for _, nr := range notReady {
				if ms >= nr[0] && ms < nr[1] {
					s.ready = false
				}
			}
			ss = append(ss, s)
		}
		return ss
	}
	fails := func(from, to int) []failure {
		var fs []failure
		for ms := from; ms <= to; ms += 50 {
			fs = append(fs, failure{at: at(ms), err: "EOF", step: 1})
		}
		return fs
	}
	for _, tc := range []struct {
		name    string
		fails   []failure
		ss      []sample
		excused []window
		want    int
	}{
		{"the status notices a failover in time", fails(10000, 12500), samples([2]int{11500, 20000}), nil, 0},
		{"the status never notices", fails(10000, 12500), samples(), nil, 1},
		{"the status notices too late", fails(10000, 16000), samples([2]int{15500, 20000}), nil, 1},
		{"Ready again while writes still fail", fails(10000, 20000), samples([2]int{11000, 14000}), nil, 1},
		{"failures before the status was Ready", fails(5000, 6000), samples([2]int{0, 4500}), nil, 0},
		{"the operator was stopped", fails(10000, 20000), samples(), []window{{from: at(9000), to: at(21000), why: "operator stopped"}}, 0},
		{"a connection closed at a switchover", fails(10000, 10100), samples(), []window{{from: at(9500), to: at(11000), why: "switchover"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := findWrongStatus(tc.fails, tc.ss, tc.excused); len(got) != tc.want {
				t.Errorf("%d wrong-status episodes, want %d: %v", len(got), tc.want, got)
			}
		})
	}
}

func TestLossClasses(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) ack { return ack{at: t0.Add(time.Duration(ms) * time.Millisecond)} }
	fault := func(st *stepRun, ms int, primary bool) {
		st.fault(t0.Add(time.Duration(ms)*time.Millisecond), primary, "fault")
	}

	planned := &stepRun{step: Step{Kind: Switchover}}
	if c := planned.classify(at(0)); c != lossPlanned {
		t.Errorf("a planned step's loss is %v", c)
	}

	primary := &stepRun{step: Step{Kind: KillRedis, Target: TargetPrimary}}
	fault(primary, 10000, true)
	for ms, want := range map[int]lossClass{8000: lossOld, 8999: lossOld, 9000: lossInWindow, 9999: lossInWindow, 12000: lossInWindow} {
		if c := primary.classify(at(ms)); c != want {
			t.Errorf("kill of the primary at 10 s: a write acknowledged at %d ms is %v, want %v", ms, c, want)
		}
	}

	replica := &stepRun{step: Step{Kind: KillRedis, Target: TargetReplica}}
	fault(replica, 10000, false)
	if c := replica.classify(at(9500)); c != lossOld {
		t.Errorf("kill of a replica: a write acknowledged before it lost is %v, want old", c)
	}

	double := &stepRun{step: Step{Kind: Double}}
	fault(double, 10000, false)
	fault(double, 10500, true)
	if c := double.classify(at(9600)); c != lossInWindow {
		t.Errorf("a second fault of the primary 0.5 s after the first widens the window to 9.5 s: %v", c)
	}

	nothing := &stepRun{step: Step{Kind: KillRedis}}
	if c := nothing.classify(at(0)); c != lossOld {
		t.Errorf("a step that injected nothing may lose nothing: %v", c)
	}
	rdb := &stepRun{step: Step{Kind: DeleteAll}, noOldCheck: true}
	fault(rdb, 10000, true)
	if c := rdb.classify(at(0)); c != lossInWindow {
		t.Errorf("every instance's memory lost with RDB: %v", c)
	}
}

func TestReasonsGroupFlapping(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	var rs reasons
	for i := range 5 {
		rs.add(t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("pod app-3 not ready since 10:00:0%d", i))
		rs.add(t0.Add(time.Duration(i)*time.Second+500*time.Millisecond), "phase Degraded")
	}
	got := rs.String()
	want := "[5x 10:00:00.000-10:00:04.000] pod app-3 not ready since 10:00:04; [5x 10:00:00.500-10:00:04.500] phase Degraded"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestDefaultSeedsDrawEveryKind keeps DefaultSeeds honest when the plans
// change: together they must still draw every kind of step.
func TestDefaultSeedsDrawEveryKind(t *testing.T) {
	kinds := map[Kind]bool{}
	for _, seed := range DefaultSeeds {
		for _, s := range NewPlan(seed, DefaultSteps).Steps {
			kinds[s.Kind] = true
		}
	}
	for _, k := range []Kind{KillRedis, KillManager, KillSentinel, DeletePod, DeleteAll, Recreate, Partition, Double, Switchover, Scale,
		Config, Durability, Persistence, Rolling, OperatorDownSwitchover, OperatorDownRolling, DeleteAuthSecret} {
		if !kinds[k] {
			t.Errorf("the default seeds %v draw no %s: pick others", DefaultSeeds, k)
		}
	}
}

// TestFailedWritesCountFromWhenTheyWereSent: a write that fails on a
// timeout counts from the moment it was sent, when the state that failed
// it held, not from the moment the timeout ran out.
func TestFailedWritesCountFromWhenTheyWereSent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Read and never answer.
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	const timeout = 600 * time.Millisecond
	c := redis.NewClient(&redis.Options{Addr: l.Addr().String(), Protocol: 2, DisableIdentity: true,
		ReadTimeout: timeout, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	var step atomic.Int32
	started := time.Now()
	w := startWriter(context.Background(), "test", "k:", c, &step)
	defer w.stop()
	var fails []failure
	for deadline := time.Now().Add(10 * time.Second); len(fails) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no failed write within 10s")
		}
		time.Sleep(20 * time.Millisecond)
		fails = w.failures()
	}
	if seen := time.Since(started); seen < timeout {
		t.Fatalf("the failure came after %s, before the read timeout of %s", seen, timeout)
	}
	if sent := fails[0].at.Sub(started); sent > timeout/2 {
		t.Errorf("the failed write counts from %s after the writer started, want its sending (at once), not its timeout (%s)", sent, timeout)
	}
}
