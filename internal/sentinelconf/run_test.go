package sentinelconf

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
)

// TestPrepareFollowsPeersAndRedisSentinelLoadsIt runs real sentinels: a new
// sentinel takes the primary its peers agree on (not the stale recorded
// one), and redis-sentinel accepts the rendered file and answers only
// authenticated clients.
func TestPrepareFollowsPeersAndRedisSentinelLoadsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set := redistest.NewSet(t, redistest.SetConfig{MasterName: "ns.app.abc", Password: "pw", Replicas: 1, Sentinels: 2, DownAfter: time.Second})
	primary := set.Servers[0].Addr()
	replica := set.Servers[1].Addr()
	cfg := &instanceconfig.Config{
		MasterName: "ns.app.abc", Instances: []string{"app-1", "app-2"},
		// The recorded primary is the replica: stale on purpose.
		Hosts:     map[string]string{"app-1": primary, "app-2": replica},
		Sentinels: append(set.SentinelAddrs(), "127.0.0.1:1"), SentinelAuthEnabled: true,
		AuthEnabled: true, Persistence: "AOF", InitialPrimary: "app-2",
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs{
		Config: cfg, PodName: "app-sentinel-3", AnnounceHostname: "127.0.0.1", Port: port, Password: "pw",
		Quorum: 2, DownAfter: time.Second, FailoverTimeout: 10 * time.Second, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	conf, chosen, err := Prepare(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != primary {
		t.Fatalf("chose %s, want the peers' primary %s (the recorded one, %s, is stale)", chosen, primary, replica)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-sentinel", path)
	cmd.Dir = dir
	out, _ := os.Create(filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	err = redistest.Wait(ctx, 100*time.Millisecond, func() error {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: "pw"})
		defer sc.Close()
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
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("rendered sentinel does not serve: %v\n%s", err, b)
	}
	anon := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer anon.Close()
	if _, err := anon.GetMasterAddrByName(ctx, "ns.app.abc").Result(); err == nil {
		t.Error("the sentinel answered a client without the password")
	}

	// With no peer answering, the recorded primary counts.
	in.Config.Sentinels = []string{"127.0.0.1:1"}
	_, chosen, err = Prepare(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != replica {
		t.Errorf("without peers chose %s, want the recorded primary %s", chosen, replica)
	}
}
