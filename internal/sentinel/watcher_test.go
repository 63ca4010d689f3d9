package sentinel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

func watch(t *testing.T, set *redistest.Set, addrs []string) (*Watcher, <-chan Event) {
	t.Helper()
	events := make(chan Event, 100)
	w := NewWatcher(Config{
		Addrs: addrs, MasterName: set.Cfg.MasterName,
		SentinelPassword: set.Cfg.Password, RedisPassword: set.Cfg.Password,
		Log: testr.New(t),
	}, func(e Event) { events <- e })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return w, events
}

func TestWatcherReportsConfirmedPrimary(t *testing.T) {
	set := redistest.NewSet(t, redistest.SetConfig{Password: "s3cret", Replicas: 1, Sentinels: 1})
	// An unreachable sentinel first: the watcher must move on to the next.
	dead, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	w, events := watch(t, set, append([]string{fmt.Sprintf("127.0.0.1:%d", dead)}, set.SentinelAddrs()...))
	select {
	case e := <-events:
		if e.Heard.IsZero() || time.Since(e.Heard) > 15*time.Second {
			t.Errorf("event heard at %v", e.Heard)
		}
		e.Heard = time.Time{}
		want := Event{Kind: EventPrimary, New: set.Servers[0].Addr(), Sentinel: set.Sentinels[0].Addr()}
		if e != want {
			t.Fatalf("event %+v, want %+v", e, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no primary reported")
	}
	if addr, ok := w.Primary(); !ok || addr != set.Servers[0].Addr() {
		t.Fatalf("Primary() = %q, %v", addr, ok)
	}
}

func TestWatcherFollowsFailoverAndSurvivesSentinelLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: waits for a Sentinel failover")
	}
	set := redistest.NewSet(t, redistest.SetConfig{Password: "s3cret", Replicas: 2, Sentinels: 3})
	w, events := watch(t, set, set.SentinelAddrs())
	old := set.Servers[0].Addr()
	redistest.WaitFor(t, 10*time.Second, "the watcher to report the primary", func(ctx context.Context) error {
		if addr, _ := w.Primary(); addr != old {
			return fmt.Errorf("primary %q, want %q", addr, old)
		}
		return nil
	})
	before := AskOne(context.Background(), set.SentinelAddrs()[1], Access{Password: set.Cfg.Password}, set.Cfg.MasterName)
	if before.Addr != old {
		t.Fatalf("sentinel names %q before the failover, want %q (%+v)", before.Addr, old, before)
	}
	// The watcher talks to the first sentinel; take it away.
	set.Sentinels[0].Kill()
	set.Servers[0].Kill()
	killed := time.Now()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			t.Logf("event after %v: %+v", time.Since(killed).Round(time.Millisecond), e)
			if e.New == "" || e.New == old {
				continue
			}
			if e.Old != old || e.New == old {
				t.Fatalf("unexpected change %+v", e)
			}
			role, err := set.Server(e.New).Role(context.Background())
			if err != nil || role != "master" {
				t.Fatalf("announced %s has role %q (%v)", e.New, role, err)
			}
			if addr, _ := w.Primary(); addr != e.New {
				t.Fatalf("Primary() = %q after event for %q", addr, e.New)
			}
			// The operator trusts a +switch-master over an older majority
			// by the epoch of its configuration: the announcing sentinel
			// must give a newer one than before the failover.
			// The watcher may announce from +failover-end, a timer tick
			// before the sentinel's SENTINEL MASTER names the new primary.
			var after Master
			redistest.WaitFor(t, 2*time.Second, "the announcing sentinel to switch its configuration", func(ctx context.Context) error {
				if after = AskOne(ctx, e.Sentinel, Access{Password: set.Cfg.Password}, set.Cfg.MasterName); after.Addr != e.New || after.InFailover {
					return fmt.Errorf("%+v", after)
				}
				return nil
			})
			if after.ConfigEpoch <= before.ConfigEpoch {
				t.Fatalf("announcing sentinel says %s at epoch %d, want %s at an epoch above %d", after.Addr, after.ConfigEpoch, e.New, before.ConfigEpoch)
			}
			return
		case <-deadline:
			t.Fatal("no failover reported")
		}
	}
}

// watchForUser runs a watcher whose user, like the proxy, routes to every
// primary it announces; use makes the user route elsewhere on its own.
func watchForUser(t *testing.T, set *redistest.Set) (events <-chan Event, use func(addr string)) {
	t.Helper()
	var mu sync.Mutex
	inUse := ""
	use = func(addr string) { mu.Lock(); defer mu.Unlock(); inUse = addr }
	ch := make(chan Event, 100)
	w := NewWatcher(Config{
		Addrs: set.SentinelAddrs(), MasterName: set.Cfg.MasterName,
		SentinelPassword: set.Cfg.Password, RedisPassword: set.Cfg.Password,
		PollInterval: 200 * time.Millisecond, Log: testr.New(t),
		InUse: func() string { mu.Lock(); defer mu.Unlock(); return inUse },
	}, func(e Event) {
		if e.New != "" {
			use(e.New)
		}
		ch <- e
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return ch, use
}

// TestWatcherAnnouncesAgainWhatItsUserLeft: the proxy resumes a planned
// switchover to the target before the sentinels name it; if the switchover
// is then undone and the sentinels name the old primary again, the watcher
// must announce it, although it is what the watcher announced before.
func TestWatcherAnnouncesAgainWhatItsUserLeft(t *testing.T) {
	set := redistest.NewSet(t, redistest.SetConfig{Password: "s3cret", Replicas: 1, Sentinels: 1})
	events, use := watchForUser(t, set)
	primary := set.Servers[0].Addr()
	select {
	case e := <-events:
		if e.New != primary {
			t.Fatalf("first event %+v, want the primary %s", e, primary)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no primary reported")
	}
	// The user moves to the replica on its own (a resume to a switchover's
	// target); the sentinels still name the primary.
	use(set.Servers[1].Addr())
	select {
	case e := <-events:
		if e.New != primary || e.Old != set.Servers[1].Addr() {
			t.Fatalf("event %+v, want the primary %s announced again, the replica as old", e, primary)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not announce the primary its user had left")
	}
}

// TestWatcherWaitsForSentinelsBehindItsUser: right after a planned
// switchover the proxy routes to the promoted primary while a sentinel may
// still name the old one; the watcher must not send the proxy back.
func TestWatcherWaitsForSentinelsBehindItsUser(t *testing.T) {
	set := redistest.NewSet(t, redistest.SetConfig{Password: "s3cret", Replicas: 1, Sentinels: 1})
	// A master the sentinels do not know stands for the promoted target.
	ahead, err := redistest.StartServer(redistest.ServerConfig{Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ahead.Close)
	events, use := watchForUser(t, set)
	select {
	case <-events:
	case <-time.After(15 * time.Second):
		t.Fatal("no primary reported")
	}
	use(ahead.Addr())
	select {
	case e := <-events:
		t.Fatalf("the watcher sent its user back to what the sentinels still name: %+v", e)
	case <-time.After(2 * time.Second): // ten polls
	}
}

// TestRoleChangesAreHints: +role-change and +convert-to-slave of an
// instance of the watched master are reported as hints (no new primary);
// those of another master are not.
func TestRoleChangesAreHints(t *testing.T) {
	var got []Event
	w := NewWatcher(Config{MasterName: "ns.app", Log: testr.New(t)}, func(e Event) { got = append(got, e) })
	ctx := context.Background()
	w.handle(ctx, nil, "s1:26379", "+convert-to-slave", "slave 10.0.0.2:6379 10.0.0.2 6379 @ ns.app 10.0.0.1 6379")
	w.handle(ctx, nil, "s1:26379", "+role-change", "slave 10.0.0.2:6379 10.0.0.2 6379 @ ns.app 10.0.0.1 6379 new reported role is master")
	w.handle(ctx, nil, "s1:26379", "+convert-to-slave", "slave 10.0.0.9:6379 10.0.0.9 6379 @ other.app 10.0.0.8 6379")
	if len(got) != 2 {
		t.Fatalf("events %+v; want two hints", got)
	}
	for _, e := range got {
		if e.Kind != EventRoleChange || e.New != "" || e.Old != "10.0.0.1:6379" || e.Sentinel != "s1:26379" {
			t.Errorf("event %+v; want a role-change hint about master 10.0.0.1:6379", e)
		}
	}
}

// TestWatcherIgnoresALaggingSentinel: right after a planned switchover the
// old primary still says master until it is demoted, and a question asked
// through a Service may reach a sentinel that has not heard of the switch
// yet. Neither the poll that follows +failover-end nor one shortly after a
// +switch-master may send the watcher's user back to the old primary.
func TestWatcherIgnoresALaggingSentinel(t *testing.T) {
	set := redistest.NewSet(t, redistest.SetConfig{Password: "s3cret", Replicas: 1, Sentinels: 1})
	// A master the sentinel does not know stands for the promoted target;
	// the sentinel still names the old primary, which says master.
	ahead, err := redistest.StartServer(redistest.ServerConfig{Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ahead.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := set.SentinelAddrs()[0]
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: set.Cfg.Password})
	defer sc.Close()
	old := set.Servers[0].Addr()
	payload := "master " + set.Cfg.MasterName + " " + strings.ReplaceAll(old, ":", " ")
	cfg := Config{Addrs: []string{addr}, MasterName: set.Cfg.MasterName, SentinelPassword: set.Cfg.Password,
		RedisPassword: set.Cfg.Password, Log: testr.New(t)}
	t.Run("the proxy resumed on the target", func(t *testing.T) {
		var got []Event
		c := cfg
		c.InUse = func() string { return ahead.Addr() }
		w := NewWatcher(c, func(e Event) { got = append(got, e) })
		w.primary = old
		w.handle(ctx, sc, addr, "+failover-end", payload)
		if len(got) > 0 {
			t.Errorf("the watcher sent its user back to the old primary: %+v", got)
		}
	})
	t.Run("a +switch-master named the target a moment ago", func(t *testing.T) {
		var got []Event
		w := NewWatcher(cfg, func(e Event) { got = append(got, e) })
		w.primary, w.switchedAt = ahead.Addr(), time.Now()
		w.handle(ctx, sc, addr, "+failover-end", payload)
		if err := w.poll(ctx, sc, addr, EventPrimary); err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			t.Errorf("the watcher went back to the old primary: %+v", got)
		}
		// Long after the switch, what the sentinels name wins again.
		w.switchedAt = time.Now().Add(-time.Minute)
		if err := w.poll(ctx, sc, addr, EventPrimary); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].New != old {
			t.Errorf("events %+v, want the primary the sentinel names announced", got)
		}
	})
}
