package sentinelrun

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinel"
)

// TestEverythingRestartedFailsOverWithoutThePrimary stops every instance and
// every sentinel at once, as when every pod of a RedisFailover is deleted,
// then starts the two replicas (as replicas of the primary, as their
// instance managers do when the sentinels know nothing) and three new
// sentinels whose files Prepare renders from instance.json alone. The old
// primary never comes back. Sentinel learns replicas from the primary's
// INFO, so without the known replicas in sentinel.conf these sentinels
// would wait forever; with them they fail over to a replica that has the
// data, within seconds.
func TestEverythingRestartedFailsOverWithoutThePrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs three redis-server and six sentinels and waits for a failover")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// As haredis renders three instances with AOF.
	extra := []string{"appendonly yes", "min-replicas-to-write 1", "min-replicas-max-lag 10", "repl-diskless-sync-delay 1"}
	primary, err := redistest.StartServer(redistest.ServerConfig{Password: testPassword, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	servers := []*redistest.Server{primary}
	for range 2 {
		r, err := redistest.StartServer(redistest.ServerConfig{Password: testPassword, ReplicaOf: primary.Addr(), Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.WaitReplicaInSync(ctx); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, r)
	}
	cfg := &instanceconfig.Config{
		ClusterName: "app", MasterName: "ns.app.restart", Instances: []string{"app-1", "app-2", "app-3"},
		Hosts:               map[string]string{"app-1": servers[0].Addr(), "app-2": servers[1].Addr(), "app-3": servers[2].Addr()},
		SentinelAuthEnabled: true, AuthEnabled: true, Persistence: "AOF", InitialPrimary: "app-1",
	}
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = redistest.StablePort(t)
		cfg.Sentinels = append(cfg.Sentinels, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])))
		cfg.SentinelPods = append(cfg.SentinelPods, fmt.Sprintf("app-sentinel-%d", i+1))
	}
	// startSentinels starts a sentinel per pod, each in a new run directory.
	startSentinels := func() []*sentinelProc {
		var out []*sentinelProc
		for i, port := range ports {
			conf, _, err := Prepare(ctx, Inputs{
				Config: cfg, PodName: cfg.SentinelPods[i], AnnounceHostname: "127.0.0.1", Port: port, Password: testPassword,
				DownAfter: time.Second, FailoverTimeout: 30 * time.Second, AskTimeout: 200 * time.Millisecond, Log: quietLog(),
			})
			if err != nil {
				t.Fatal(err)
			}
			s := newSentinelDir(t, port)
			s.start(ctx, conf, testPassword)
			out = append(out, s)
		}
		return out
	}

	sentinels := startSentinels()
	for _, s := range sentinels {
		waitKnows(ctx, t, s, cfg.MasterName)
	}
	c := primary.Client()
	for i := range 100 {
		if err := c.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Wait(ctx, 2, 5000).Result(); err != nil || n != 2 {
		t.Fatalf("WAIT 2: %d, %v", n, err)
	}
	c.Close()

	// Every pod goes at once.
	for _, s := range sentinels {
		s.kill()
	}
	for _, r := range servers {
		r.Stop()
	}
	// The replicas come back on their volumes, still replicas of the old
	// primary; the old primary does not come back.
	for _, r := range servers[1:] {
		if err := r.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	sentinels = startSentinels()
	var promoted *redistest.Server
	var named time.Duration
	err = redistest.Wait(ctx, 50*time.Millisecond, func() error {
		addr, err := majority(ctx, sentinels, cfg.MasterName)
		if err != nil {
			return err
		}
		if addr != primary.Addr() && named == 0 {
			named = time.Since(started)
		}
		for _, r := range servers[1:] {
			if r.Addr() != addr {
				continue
			}
			rc := r.Client()
			defer rc.Close()
			if err := rc.Set(ctx, "after-restart", 1, 0).Err(); err != nil {
				return fmt.Errorf("the sentinels name %s, which refuses writes: %w", addr, err)
			}
			promoted = r
			return nil
		}
		return fmt.Errorf("the sentinels name %s, not a replica", addr)
	})
	elapsed := time.Since(started)
	if err != nil {
		for _, s := range sentinels {
			t.Logf("sentinel %s:\n%s", s.addr(), s.log())
		}
		t.Fatalf("no failover after every pod restarted: %v", err)
	}
	t.Logf("failed over to %s: named by the sentinels %v and taking writes %v after the new sentinels started",
		promoted.Addr(), named.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	// How long it takes is a figure (bench-recovery measures it), not a
	// pass mark: on a loaded machine the same failover takes longer.
	pc := promoted.Client()
	defer pc.Close()
	for i := range 100 {
		if err := pc.Get(ctx, fmt.Sprintf("key-%d", i)).Err(); err != nil {
			t.Fatalf("the new primary lost key-%d: %v", i, err)
		}
	}
}

// waitKnows waits until the sentinel knows two replicas and two peers.
func waitKnows(ctx context.Context, t *testing.T, s *sentinelProc, master string) {
	t.Helper()
	sc := s.client(testPassword)
	defer sc.Close()
	err := redistest.Wait(ctx, 50*time.Millisecond, func() error {
		m, err := sc.Master(ctx, master).Result()
		if err != nil {
			return err
		}
		if m["num-slaves"] != "2" || m["num-other-sentinels"] != "2" {
			return fmt.Errorf("sentinel %s knows %s replicas and %s peers", s.addr(), m["num-slaves"], m["num-other-sentinels"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// majority is the primary a majority of the sentinels names.
func majority(ctx context.Context, sentinels []*sentinelProc, master string) (string, error) {
	addrs := make([]string, len(sentinels))
	for i, s := range sentinels {
		addrs[i] = s.addr()
	}
	answers := sentinel.AskPrimary(ctx, addrs, master, sentinel.Access{Password: testPassword}, time.Second)
	count := map[string]int{}
	for _, a := range answers {
		if a.Addr != "" {
			count[a.Addr]++
		}
	}
	if addr, ok := quorum.Named(count, len(sentinels)); ok {
		return addr, nil
	}
	return "", fmt.Errorf("no majority among %v", answers)
}
