package sentinel_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/sentinel"

	"github.com/haredis/haredis/internal/redistest"
)

const haPassword = "refailover-test-password"

// haSet is three redis-server (a primary and two replicas, with the
// durability settings haredis gives three instances) and three sentinels
// configured and tuned as the operator does.
type haSet struct {
	t         *testing.T
	master    string
	servers   []*redistest.Server
	sentinels []*redistest.Sentinel
}

// newHASet starts the set and waits until every sentinel knows both replicas
// and both peers, so that a failover can happen at once. The sentinels have
// the API's defaults: down-after 1 s, failover-timeout 30 s.
func newHASet(t *testing.T) *haSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &haSet{t: t, master: "ns.app.refailover"}
	t.Cleanup(h.close)
	// As haredis renders them for three instances.
	extra := []string{"min-replicas-to-write 1", "min-replicas-max-lag 10", "repl-diskless-sync yes", "repl-diskless-sync-delay 1"}
	primary, err := redistest.StartServer(redistest.ServerConfig{Password: haPassword, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	h.servers = append(h.servers, primary)
	for range 2 {
		r, err := redistest.StartServer(redistest.ServerConfig{Password: haPassword, ReplicaOf: primary.Addr(), Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		h.servers = append(h.servers, r)
	}
	for _, r := range h.servers[1:] {
		if err := r.WaitReplicaInSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		s, err := redistest.StartSentinel(redistest.SentinelConfig{
			MasterName: h.master, MasterAddr: primary.Addr(), Quorum: 2,
			DownAfter: time.Second, FailoverTimeout: 30 * time.Second, Password: haPassword,
		})
		if err != nil {
			t.Fatal(err)
		}
		h.sentinels = append(h.sentinels, s)
		sc := s.SentinelClient()
		// As the operator: its timings, and one replica resynchronised at a
		// time (sentinel.conf's parallel-syncs).
		err = sentinel.Tune(ctx, sc)
		if err == nil {
			err = sc.Set(ctx, h.master, "parallel-syncs", "1").Err()
		}
		sc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	h.waitComplete(ctx)
	return h
}

// waitComplete waits until every sentinel knows two replicas and two peers.
func (h *haSet) waitComplete(ctx context.Context) {
	h.t.Helper()
	for _, s := range h.sentinels {
		sc := s.SentinelClient()
		err := redistest.Wait(ctx, 50*time.Millisecond, func() error {
			reps, err := sc.Replicas(ctx, h.master).Result()
			if err != nil {
				return err
			}
			peers, err := sc.Sentinels(ctx, h.master).Result()
			if err != nil {
				return err
			}
			if len(reps) < 2 || len(peers) < 2 {
				return fmt.Errorf("sentinel %s knows %d replicas and %d peers", s.Addr(), len(reps), len(peers))
			}
			return nil
		})
		sc.Close()
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *haSet) close() {
	if h.t.Failed() || os.Getenv("HAREDIS_TEST_SENTINEL_LOGS") != "" {
		for _, s := range h.sentinels {
			b, _ := os.ReadFile(filepath.Join(s.Dir(), "redis.log"))
			h.t.Logf("sentinel %s log:\n%s", s.Addr(), failoverLines(string(b)))
		}
	}
	for _, s := range h.sentinels {
		s.Close()
	}
	for _, r := range h.servers {
		r.Close()
	}
}

// Sentinel log events that delay a failover.
const (
	eventNoGoodSlave = "-failover-abort-no-good-slave"
	eventNotElected  = "-failover-abort-not-elected"
	eventTilt        = "+tilt"
)

// sentinelEvents counts the events that delay a failover in every
// sentinel's log so far.
func (h *haSet) sentinelEvents() map[string]int {
	out := map[string]int{}
	for _, s := range h.sentinels {
		b, _ := os.ReadFile(filepath.Join(s.Dir(), "redis.log"))
		for _, e := range []string{eventNoGoodSlave, eventNotElected, eventTilt} {
			out[e] += strings.Count(string(b), e)
		}
	}
	return out
}

// failoverLines keeps the log lines about failovers and instance states.
func failoverLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		for _, k := range []string{"failover", "switch", "down", "elected", "vote", "epoch", "slave", "leader", "Next failover"} {
			if strings.Contains(l, k) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func (h *haSet) sentinelAddrs() []string {
	var out []string
	for _, s := range h.sentinels {
		out = append(out, s.Addr())
	}
	return out
}

func (h *haSet) server(addr string) *redistest.Server {
	for _, r := range h.servers {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}

// majority is the primary a majority of the three sentinels names.
func (h *haSet) majority(ctx context.Context) (string, error) {
	answers := sentinel.AskPrimary(ctx, h.sentinelAddrs(), h.master, sentinel.Access{Password: haPassword}, time.Second)
	count := map[string]int{}
	for _, a := range answers {
		if a.Addr != "" {
			count[a.Addr]++
		}
	}
	if a, ok := quorum.Named(count, len(h.sentinels)); ok {
		return a, nil
	}
	return "", fmt.Errorf("no sentinel majority: %v", count)
}

// waitWritablePrimary waits until a sentinel majority names an instance
// other than those in not, and that instance takes a write.
func (h *haSet) waitWritablePrimary(ctx context.Context, not ...string) (string, error) {
	var primary string
	err := redistest.Wait(ctx, 20*time.Millisecond, func() error {
		a, err := h.majority(ctx)
		if err != nil {
			return err
		}
		for _, n := range not {
			if a == n {
				return fmt.Errorf("the majority still names %s", a)
			}
		}
		s := h.server(a)
		if s == nil {
			return fmt.Errorf("the majority names %s, no instance of the set", a)
		}
		c := s.Client()
		defer c.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := c.Set(cctx, "probe", a, 0).Err(); err != nil {
			return fmt.Errorf("%s refuses writes: %w", a, err)
		}
		primary = a
		return nil
	})
	return primary, err
}

// rejoin restarts a killed instance as a replica of primary, as the
// instance manager does once the sentinels have failed over. These servers
// keep nothing on disk: it comes back empty and resynchronises, so a
// failover that promoted it too early would lose the keys checkKeys reads.
func (h *haSet) rejoin(ctx context.Context, s *redistest.Server, primary string) {
	h.t.Helper()
	if err := s.Restart(); err != nil {
		h.t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(primary)
	c := s.Client()
	defer c.Close()
	if err := c.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		h.t.Fatal(err)
	}
}

// writeKeys writes n keys on the primary and waits until both replicas
// acknowledged them.
func writeKeys(ctx context.Context, t *testing.T, primary *redistest.Server, prefix string, n int) {
	t.Helper()
	c := primary.Client()
	defer c.Close()
	for i := range n {
		if err := c.Set(ctx, fmt.Sprintf("%s-%d", prefix, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Wait(ctx, 2, 5000).Result(); err != nil || got < 2 {
		t.Fatalf("WAIT: %d replicas, %v", got, err)
	}
}

// checkKeys fails the test unless the server holds every key of writeKeys.
func checkKeys(ctx context.Context, t *testing.T, s *redistest.Server, prefix string, n int) {
	t.Helper()
	c := s.Client()
	defer c.Close()
	for i := range n {
		if err := c.Get(ctx, fmt.Sprintf("%s-%d", prefix, i)).Err(); err != nil {
			t.Fatalf("%s lost %s-%d: %v", s.Addr(), prefix, i, err)
		}
	}
}
