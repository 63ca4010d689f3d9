package sentinel_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/switchover"
)

// recoveryBound is how long a failover may take on a loaded 2-core machine
// with down-after 1 s: about 2.5 s is usual; a failover that aborts waits
// twice the failover timeout (60 s).
const recoveryBound = 15 * time.Second

// TestTunedSentinelsKeepReplicasEligible checks the rule by which Sentinel
// chooses the replica to promote, with the timings the operator sets: while
// the primary is down, a replica whose INFO or last PING reply is older than
// five ping periods is not a candidate. Sentinel then asks replicas for INFO
// once a second, so five ping periods must stay well above a second, or
// every replica drops out of the choice for a moment of every second and a
// failover that chooses then aborts (-failover-abort-no-good-slave) for
// twice the failover timeout. The primary is kept only subjectively down
// (a quorum no sentinel can reach), the state in which the choice is made,
// and every sentinel's view of the replicas is sampled for a few seconds.
//
// A sentinel the loaded machine stalls sees every reply late, PING replies
// too; only an INFO too old while PING replies are recent is the timing
// fault this test is about.
func TestTunedSentinelsKeepReplicasEligible(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: samples sentinels for seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := newHASet(t)
	var clients []*redis.SentinelClient
	for _, s := range h.sentinels {
		sc := s.SentinelClient()
		defer sc.Close()
		if err := sc.Set(ctx, h.master, "quorum", "4").Err(); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, sc)
	}
	period := pingPeriod(ctx, t, clients[0])
	limit := 5 * period
	h.servers[0].Kill()
	for i, sc := range clients {
		err := redistest.Wait(ctx, 20*time.Millisecond, func() error {
			m, err := sc.Master(ctx, h.master).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(m["flags"], "s_down") {
				return fmt.Errorf("sentinel %s: master flags %q", h.sentinels[i].Addr(), m["flags"])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var samples int
	var oldest time.Duration
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		for i, sc := range clients {
			reps, err := sc.Replicas(ctx, h.master).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reps {
				if net.JoinHostPort(r["ip"], r["port"]) == h.servers[0].Addr() {
					continue // the dead primary's own entry, if any
				}
				samples++
				info, ping := ms(r["info-refresh"]), ms(r["last-ok-ping-reply"])
				oldest = max(oldest, info)
				if info > limit && ping < 2*period {
					t.Fatalf("sentinel %s would not promote replica %s:%s: its INFO is %v old (its last PING reply %v), the limit is %v",
						h.sentinels[i].Addr(), r["ip"], r["port"], info, ping, limit)
				}
				if info > limit || ping > limit {
					t.Logf("sentinel %s was stalled: replica %s:%s INFO %v, PING reply %v old", h.sentinels[i].Addr(), r["ip"], r["port"], info, ping)
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("%d samples of the replicas: the oldest INFO was %v, the limit %v", samples, oldest, limit)
}

// faultDelays are how long after a primary change the new primary is
// killed: before and after the rejoining old primary is in sync, and the
// "couple of seconds" of the failure seen in CI. The delay places the fault;
// it waits for nothing.
var faultDelays = []time.Duration{500 * time.Millisecond, 2 * time.Second}

// TestFailureShortlyAfterFailover kills the primary, then kills the new one
// shortly after the failover, while the old primary comes back as a replica
// (as its instance manager brings it back): the sentinels must fail over
// again as fast as the first time, to a replica that has the data.
func TestFailureShortlyAfterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: two failovers")
	}
	for _, delay := range faultDelays {
		t.Run(delay.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			h := newHASet(t)
			writeKeys(ctx, t, h.servers[0], "k", 100)
			first := h.servers[0]
			first.Kill()
			killed := time.Now()
			second, err := h.waitWritablePrimary(ctx, first.Addr())
			if err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			t.Logf("first failover to %s: %v", second, changed.Sub(killed).Round(time.Millisecond))
			h.rejoin(ctx, first, second)
			time.Sleep(time.Until(changed.Add(delay)))
			h.killAndRecover(ctx, h.server(second), changed)
		})
	}
}

// TestFailureShortlyAfterSwitchover switches over as the operator does
// (fence, then SENTINEL FAILOVER), then kills the new primary shortly
// after: the sentinels must fail over at once.
func TestFailureShortlyAfterSwitchover(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: a switchover and a failover")
	}
	for _, delay := range faultDelays {
		t.Run(delay.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			h := newHASet(t)
			writeKeys(ctx, t, h.servers[0], "k", 100)
			old, target := h.servers[0], h.servers[1]
			res, err := switchover.Run(ctx, switchover.Plan{
				MasterName: h.master, Primary: old.Addr(), Target: target.Addr(),
				PrimaryAnnounced: old.Addr(), TargetAnnounced: target.Addr(),
				Replicas: []string{h.servers[2].Addr()}, Sentinels: h.sentinelAddrs(),
				Password: haPassword, SentinelPassword: haPassword, Log: testr.New(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.waitWritablePrimary(ctx, old.Addr()); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			t.Logf("switchover to %s: %v, writes held %v", target.Addr(), res.Total.Round(time.Millisecond), res.Fenced.Round(time.Millisecond))
			time.Sleep(time.Until(changed.Add(delay)))
			h.killAndRecover(ctx, target, changed)
		})
	}
}

// killAndRecover kills the primary s, which became primary at changed, and
// waits for another instance to be named by the sentinels and take writes;
// it checks the new primary has the data. No sentinel may have failed to
// find a replica to promote, and the failover must take less than
// recoveryBound, unless Sentinel lost time to something this test is not
// about, which is logged instead:
//   - a split vote, every sentinel voting for itself. Sentinel keeps its
//     peers' answers that the previous primary was down for five ask
//     periods (5 s), so shortly after a change every sentinel counts the new
//     primary objectively down the moment it sees it down itself, and all
//     start an election together; each writes and fsyncs sentinel.conf
//     before its vote request leaves, which on a loaded disk takes long
//     enough for all to vote for themselves. Sentinel tries again after
//     twice the failover timeout;
//   - the tilt mode a sentinel enters when the machine stalls it for 2 s.
func (h *haSet) killAndRecover(ctx context.Context, s *redistest.Server, changed time.Time) {
	h.t.Helper()
	before := h.sentinelEvents()
	s.Kill()
	killed := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	next, err := h.waitWritablePrimary(rctx, s.Addr())
	took := time.Since(killed)
	events := h.sentinelEvents()
	for k, n := range before {
		events[k] -= n
	}
	if events[eventNoGoodSlave] > 0 {
		h.t.Errorf("a sentinel found no replica to promote (%s)", eventNoGoodSlave)
	}
	if err != nil {
		h.t.Fatalf("no failover %v after the primary %s was killed: %v", took.Round(time.Millisecond), s.Addr(), err)
	}
	h.t.Logf("primary %s killed %v after it became primary; %s took writes %v later",
		s.Addr(), killed.Sub(changed).Round(time.Millisecond), next, took.Round(time.Millisecond))
	switch {
	case took <= recoveryBound:
	case events[eventNotElected] > 0 || events[eventTilt] > 0:
		h.t.Logf("the failover took %v because of Sentinel's own delays (%v), not what this test is about", took.Round(time.Millisecond), events)
	default:
		h.t.Errorf("the failover took %v, more than %v", took.Round(time.Millisecond), recoveryBound)
	}
	checkKeys(ctx, h.t, h.server(next), "k", 100)
}

// pingPeriod reads a sentinel's ping period (SENTINEL DEBUG).
func pingPeriod(ctx context.Context, t *testing.T, sc *redis.SentinelClient) time.Duration {
	t.Helper()
	cmd := redis.NewSliceCmd(ctx, "SENTINEL", "DEBUG")
	if err := sc.Process(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	v := cmd.Val()
	for i := 0; i+1 < len(v); i += 2 {
		if k, _ := v[i].(string); strings.EqualFold(k, "ping-period") {
			switch p := v[i+1].(type) {
			case int64:
				return time.Duration(p) * time.Millisecond
			case string:
				return ms(p)
			}
		}
	}
	t.Fatalf("SENTINEL DEBUG has no ping period: %v", v)
	return 0
}

func ms(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * time.Millisecond
}
