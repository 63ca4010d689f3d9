package sentinelrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
)

// TestPrepareFollowsPeersAndRedisSentinelLoadsIt runs real sentinels: a new
// sentinel takes the primary its peers agree on (not the stale recorded
// one), and redis-sentinel accepts the rendered file, answers only
// authenticated clients, and starts with the known replicas and sentinels
// and the carried epochs of the file it left in its run directory.
func TestPrepareFollowsPeersAndRedisSentinelLoadsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set := redistest.NewSet(t, redistest.SetConfig{MasterName: "ns.app.abc", Password: "pw", Replicas: 1, Sentinels: 2, DownAfter: time.Second})
	primary := set.Servers[0].Addr()
	replica := set.Servers[1].Addr()
	const absent = "127.0.0.1:1" // an instance whose pod is gone
	deadSentinel := "127.0.0.1:2"
	cfg := &instanceconfig.Config{
		MasterName: "ns.app.abc", Instances: []string{"app-1", "app-2", "app-3"},
		// The recorded primary is the replica: stale on purpose.
		Hosts:     map[string]string{"app-1": primary, "app-2": replica, "app-3": absent},
		Sentinels: append(set.SentinelAddrs(), deadSentinel), SentinelAuthEnabled: true,
		// The set's sentinels have random ids: only the dead one's pod is told.
		SentinelPods: []string{"", "", "app-sentinel-9"},
		AuthEnabled:  true, Persistence: "AOF", InitialPrimary: "app-2",
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	host, portStr, _ := net.SplitHostPort(primary)
	in := Inputs{
		Config: cfg, PodName: "app-sentinel-3", AnnounceHostname: "127.0.0.1", Port: port, Password: "pw",
		Quorum: 2, DownAfter: time.Second, FailoverTimeout: 10 * time.Second, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		// What Sentinel left after a failover to this primary and a vote.
		Previous: "sentinel monitor ns.app.abc " + host + " " + portStr + " 2\n" +
			"sentinel config-epoch ns.app.abc 5\nsentinel leader-epoch ns.app.abc 7\nsentinel current-epoch 7\n",
	}
	conf, chosen, err := Prepare(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != primary {
		t.Fatalf("chose %s, want the peers' primary %s (the recorded one, %s, is stale)", chosen, primary, replica)
	}

	s := newSentinelDir(t, port)
	s.start(ctx, conf, "pw")
	sc := s.client("pw")
	defer sc.Close()
	err = redistest.Wait(ctx, 100*time.Millisecond, func() error {
		r, err := sc.GetMasterAddrByName(ctx, "ns.app.abc").Result()
		if err != nil {
			return err
		}
		if got := net.JoinHostPort(r[0], r[1]); got != primary {
			return fmt.Errorf("sentinel monitors %s, want %s", got, primary)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("rendered sentinel does not serve: %v\n%s", err, s.log())
	}
	anon := redis.NewSentinelClient(&redis.Options{Addr: s.addr()})
	defer anon.Close()
	if _, err := anon.GetMasterAddrByName(ctx, "ns.app.abc").Result(); err == nil {
		t.Error("the sentinel answered a client without the password")
	}
	// Nothing but the file can have told it about the absent instance and
	// the dead sentinel.
	m, err := sc.Master(ctx, "ns.app.abc").Result()
	if err != nil {
		t.Fatal(err)
	}
	if m["config-epoch"] != "5" {
		t.Errorf("config-epoch %q, want the carried 5", m["config-epoch"])
	}
	replicas, err := sc.Replicas(ctx, "ns.app.abc").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !hasAddr(replicas, absent) || !hasAddr(replicas, replica) {
		t.Errorf("the sentinel knows the replicas %v, want %s and %s", replicas, replica, absent)
	}
	peers, err := sc.Sentinels(ctx, "ns.app.abc").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !hasPeer(peers, deadSentinel, MyID("ns.app.abc", "app-sentinel-9")) {
		t.Errorf("the sentinel knows the peers %v, want %s with its run id", peers, deadSentinel)
	}

	// With no peer answering, the recorded primary counts.
	in.Config.Sentinels = []string{deadSentinel}
	in.Config.SentinelPods = nil
	_, chosen, err = Prepare(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != replica {
		t.Errorf("without peers chose %s, want the recorded primary %s", chosen, replica)
	}
}

func hasAddr(instances []map[string]string, addr string) bool {
	for _, r := range instances {
		if net.JoinHostPort(r["ip"], r["port"]) == addr {
			return true
		}
	}
	return false
}

func hasPeer(peers []map[string]string, addr, runID string) bool {
	for _, p := range peers {
		if net.JoinHostPort(p["ip"], p["port"]) == addr && p["runid"] == runID {
			return true
		}
	}
	return false
}

// TestRedisSentinelLoadsNamesThatDoNotResolve starts a sentinel whose
// primary, replicas and peers have no address yet (their pods are gone or
// not scheduled): Prepare stops waiting after ResolveWait, and
// redis-sentinel 7.0 loads the file, keeping the names to resolve them again
// at every reconnection, so that it can fail over as soon as the replicas
// are back even if the primary never is.
func TestRedisSentinelLoadsNamesThatDoNotResolve(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &instanceconfig.Config{
		ClusterName: "app", MasterName: "ns.app.gone", Instances: []string{"app-1", "app-2", "app-3"},
		HostTemplate: "{name}.app-headless.haredis-test.invalid",
		Sentinels: []string{
			"app-sentinel-1.app-sentinel-headless.haredis-test.invalid:26379",
			net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		},
		SentinelAuthEnabled: true, AuthEnabled: true, Persistence: "AOF", InitialPrimary: "app-1",
	}
	start := time.Now()
	conf, chosen, err := Prepare(ctx, Inputs{
		Config: cfg, PodName: "app-sentinel-2", AnnounceHostname: "127.0.0.1", Port: port, Password: testPassword,
		DownAfter: time.Second, FailoverTimeout: 30 * time.Second, AskTimeout: 200 * time.Millisecond,
		Resolve:     func(context.Context, string) error { return errors.New("no such host") },
		ResolveWait: 100 * time.Millisecond, Log: quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Prepare took %v with a ResolveWait of 100ms", took)
	}
	if want := "app-1.app-headless.haredis-test.invalid:6379"; chosen != want {
		t.Errorf("chose %s, want the recorded %s", chosen, want)
	}
	s := newSentinelDir(t, port)
	s.start(ctx, conf, testPassword)
	sc := s.client(testPassword)
	defer sc.Close()
	replicas, err := sc.Replicas(ctx, cfg.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	peers, err := sc.Sentinels(ctx, cfg.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(replicas) != 2 || len(peers) != 1 {
		t.Errorf("the sentinel knows %d replicas and %d peers, want 2 and 1:\n%v\n%v", len(replicas), len(peers), replicas, peers)
	}
}
