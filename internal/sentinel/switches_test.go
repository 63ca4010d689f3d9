package sentinel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/haredis/haredis/internal/redistest"
)

// TestListenSwitchesHearsEverySentinel: after a failover, every sentinel
// that still runs announces the new primary, each on its own
// subscription, and only once ROLE on it says master; a sentinel that
// went away is no trouble.
func TestListenSwitchesHearsEverySentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: waits for a Sentinel failover")
	}
	set := redistest.NewSet(t, redistest.SetConfig{Password: "s3cret", Replicas: 2, Sentinels: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	heard := map[string]Event{}
	events := make(chan Event, 16)
	ListenSwitches(ctx, Config{Addrs: set.SentinelAddrs(), MasterName: set.Cfg.MasterName,
		SentinelPassword: set.Cfg.Password, RedisPassword: set.Cfg.Password, Log: testr.New(t)}, func(e Event) {
		mu.Lock()
		heard[e.Sentinel] = e
		mu.Unlock()
		events <- e
	})
	// Each sentinel's subscription is up once CLIENT LIST shows a client
	// subscribed to one channel (Sentinel has no PUBSUB command).
	for _, s := range set.Sentinels {
		c := s.Client()
		redistest.WaitFor(t, 10*time.Second, "the subscription on "+s.Addr(), func(ctx context.Context) error {
			list, err := c.Do(ctx, "CLIENT", "LIST").Text()
			if err != nil {
				return err
			}
			if !strings.Contains(list, " sub=1 ") {
				return fmt.Errorf("no subscribed client:\n%s", list)
			}
			return nil
		})
		c.Close()
	}
	old := set.Servers[0].Addr()
	set.Sentinels[2].Kill()
	set.Servers[0].Kill()
	killed := time.Now()
	live := set.SentinelAddrs()[:2]
	deadline := time.After(60 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, a := range live {
			if _, ok := heard[a]; ok {
				n++
			}
		}
		mu.Unlock()
		if n == len(live) {
			break
		}
		select {
		case e := <-events:
			t.Logf("%v after the kill: %+v", time.Since(killed).Round(time.Millisecond), e)
			if e.Kind != EventSwitchMaster || e.Old != old || e.New == old || e.Heard.IsZero() {
				t.Fatalf("unexpected event %+v", e)
			}
			if role, err := set.Server(e.New).Role(context.Background()); err != nil || role != "master" {
				t.Fatalf("announced %s has role %q (%v)", e.New, role, err)
			}
			// The announcing sentinel's configuration comes with the
			// event: it names the new primary, with the failover's epoch.
			if m := e.Master; m == nil || m.Addr != e.New || m.ConfigEpoch < 1 || m.InFailover || m.Sentinel != e.Sentinel {
				t.Fatalf("the event's configuration %+v does not name %s with a failover's epoch", m, e.New)
			}
		case <-deadline:
			t.Fatalf("not every live sentinel announced the switch: %+v", heard)
		}
	}
	if a, b := heard[live[0]], heard[live[1]]; a.New != b.New {
		t.Errorf("the sentinels announced different primaries: %s and %s", a.New, b.New)
	}
}
