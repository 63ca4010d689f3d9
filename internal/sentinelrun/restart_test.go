package sentinelrun

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
)

const testPassword = "sentinelrun-test-password"

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// vote asks the sentinel, as a peer running for leader would, for its vote
// in epoch for candidate; it returns whom the sentinel voted for in the
// epoch it answers with ("*" for nobody).
func vote(ctx context.Context, sc *redis.SentinelClient, primary string, epoch uint64, candidate string) (string, int64, error) {
	host, port, _ := net.SplitHostPort(primary)
	cmd := redis.NewSliceCmd(ctx, "SENTINEL", "IS-MASTER-DOWN-BY-ADDR", host, port, strconv.FormatUint(epoch, 10), candidate)
	if err := sc.Process(ctx, cmd); err != nil {
		return "", 0, fmt.Errorf("cannot ask for a vote: %w", err)
	}
	r := cmd.Val()
	if len(r) != 3 {
		return "", 0, fmt.Errorf("unexpected reply %v", r)
	}
	leader, _ := r[1].(string)
	leaderEpoch, _ := r[2].(int64)
	return leader, leaderEpoch, nil
}

// helloEpoch waits for this sentinel's hello message on the primary and
// returns the current epoch it announces.
func helloEpoch(ctx context.Context, t *testing.T, primary *redistest.Server, runID string) uint64 {
	t.Helper()
	c := primary.Client()
	defer c.Close()
	ps := c.Subscribe(ctx, "__sentinel__:hello")
	defer ps.Close()
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("no hello message from sentinel %s: %v", runID, err)
		}
		// ip,port,runid,current_epoch,master_name,master_ip,master_port,master_config_epoch
		f := strings.Split(msg.Payload, ",")
		if len(f) == 8 && f[2] == runID {
			e, _ := strconv.ParseUint(f[3], 10, 64)
			return e
		}
	}
}

// TestRestartedSentinelKeepsItsVotes restarts a sentinel that voted in an
// election, as a container restart in the same pod does: the new sentinel
// keeps the current epoch and refuses a second vote in that epoch. The same
// restart without the previous file votes again: the double vote that could
// elect two leaders.
func TestRestartedSentinelKeepsItsVotes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	primary, err := redistest.StartServer(redistest.ServerConfig{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	port := redistest.StablePort(t)
	cfg := &instanceconfig.Config{
		ClusterName: "app", MasterName: "ns.app.votes", Instances: []string{"app-1"},
		Hosts:     map[string]string{"app-1": primary.Addr()},
		Sentinels: []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, SentinelPods: []string{"app-sentinel-1"},
		SentinelAuthEnabled: true, AuthEnabled: true, Persistence: "AOF", InitialPrimary: "app-1",
	}
	in := Inputs{
		Config: cfg, PodName: "app-sentinel-1", AnnounceHostname: "127.0.0.1", Port: port, Password: testPassword,
		DownAfter: time.Second, FailoverTimeout: 30 * time.Second, AskTimeout: 200 * time.Millisecond, Log: quietLog(),
	}
	s := newSentinelDir(t, port)
	restart := func(previous string) {
		t.Helper()
		s.kill()
		in.Previous = previous
		conf, _, err := Prepare(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		s.start(ctx, conf, testPassword)
	}
	restart("")
	sc := s.client(testPassword)
	defer sc.Close()
	if err := sc.Process(ctx, redis.NewStatusCmd(ctx, "SENTINEL", "DEBUG", "publish-period", "100")); err != nil {
		t.Fatal(err)
	}
	const epoch = 5
	candidateA, candidateB := MyID(cfg.MasterName, "app-sentinel-2"), MyID(cfg.MasterName, "app-sentinel-3")
	leader, _, err := vote(ctx, sc, primary.Addr(), epoch, candidateA)
	if err != nil || leader != candidateA {
		t.Fatalf("first vote in epoch %d went to %q (%v), want %s", epoch, leader, err, candidateA)
	}

	restart(s.previous())
	if err := sc.Process(ctx, redis.NewStatusCmd(ctx, "SENTINEL", "DEBUG", "publish-period", "100")); err != nil {
		t.Fatal(err)
	}
	self := MyID(cfg.MasterName, "app-sentinel-1")
	if got := helloEpoch(ctx, t, primary, self); got != epoch {
		t.Errorf("the restarted sentinel announces current epoch %d, want %d", got, epoch)
	}
	leader, leaderEpoch, err := vote(ctx, sc, primary.Addr(), epoch, candidateB)
	if err != nil {
		t.Fatal(err)
	}
	if leader == candidateB {
		t.Fatalf("the restarted sentinel voted a second time in epoch %d (for %s)", epoch, candidateB)
	}
	if leaderEpoch != epoch {
		t.Errorf("the restarted sentinel answers with leader epoch %d, want %d", leaderEpoch, epoch)
	}

	// Control: what a fresh file (the old behaviour) does.
	restart("")
	if leader, _, err := vote(ctx, sc, primary.Addr(), epoch, candidateB); err != nil || leader != candidateB {
		t.Fatalf("control: a sentinel without its previous file voted for %q (%v); the test no longer shows the double vote", leader, err)
	}
}
