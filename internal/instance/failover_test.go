package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinel"
)

// TestKilledPrimaryNeverAcceptsWrites kills the primary's redis-server
// under three real sentinels and writes to the old primary directly from the
// moment it could answer: every write must fail (connection refused while
// its manager waits for the failover, READONLY once it is a replica). Plain
// Redis brings it back as a master that accepts writes for seconds. With
// persistence None the old primary comes back empty: it must never become
// primary over its replicas, which keep the data.
func TestKilledPrimaryNeverAcceptsWrites(t *testing.T) {
	for _, persistence := range []string{instanceconfig.PersistenceAOF, instanceconfig.PersistenceNone} {
		t.Run(persistence, func(t *testing.T) { testKilledPrimary(t, persistence, false, false) })
	}
}

// TestRestartedPrimaryPodNeverAcceptsWrites stops the primary's whole
// manager (its pod) cleanly and starts a new one on the same volume, as a
// deleted pod that comes back with its PVC. It runs with ACL users, as the
// operator sets instances up: replicas authenticate as the replication
// user and the sentinels fail over as the sentinel user, while the
// application user cannot administer the servers.
func TestRestartedPrimaryPodNeverAcceptsWrites(t *testing.T) {
	testKilledPrimary(t, instanceconfig.PersistenceAOF, true, true)
}

// checkApplicationUser checks that the application user (the password
// alone) reads and writes but runs no administrative command, and that the
// admin user does.
func checkApplicationUser(t *testing.T, c *testCluster, name string) {
	t.Helper()
	ctx := context.Background()
	app := c.client(name)
	for _, cmd := range [][]any{{"INFO", "replication"}, {"ROLE"}, {"DBSIZE"}, {"GET", "acl-check"}} {
		if err := app.Do(ctx, cmd...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Errorf("the application user cannot run %v: %v", cmd, err)
		}
	}
	for _, cmd := range [][]any{{"CONFIG", "SET", "maxmemory", "1"}, {"REPLICAOF", "127.0.0.1", "1"}, {"FAILOVER"},
		{"SHUTDOWN", "NOSAVE"}, {"DEBUG", "SLEEP", "0"}, {"ACL", "SETUSER", "intruder", "on", ">x", "+@all"}, {"CONFIG", "GET", "masterauth"}} {
		// Redis refuses DEBUG to everyone before it looks at the ACL
		// (enable-debug-command no).
		if err := app.Do(ctx, cmd...).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") && !strings.Contains(err.Error(), "DEBUG command not allowed") {
			t.Errorf("the application user ran %v: %v, want NOPERM", cmd, err)
		}
	}
	if v, err := c.adminClient(name).ConfigGet(ctx, "masteruser").Result(); err != nil || v["masteruser"] != acl.ReplicationUser {
		t.Errorf("CONFIG GET masteruser as the admin user: %v (%v), want %s", v, err, acl.ReplicationUser)
	}
}

func testKilledPrimary(t *testing.T, persistence string, podRestart, aclUsers bool) {
	names := []string{"app-1", "app-2", "app-3"}
	c := newTestCluster(t, names, nil, nil)
	c.cfg.Persistence = persistence
	var sentinelAuth []string
	if aclUsers {
		c.useACLUsers()
		sentinelAuth = []string{"sentinel auth-user " + c.cfg.MasterName + " " + acl.SentinelUser,
			"sentinel auth-pass " + c.cfg.MasterName + " " + testInternal.Sentinel}
	}
	// The operator's part: sentinels, authenticated with the same password,
	// monitor the initial primary.
	var sentinels []*redistest.Sentinel
	for i := 0; i < 3; i++ {
		s, err := redistest.StartSentinel(redistest.SentinelConfig{MasterName: c.cfg.MasterName,
			MasterAddr: c.cfg.Hosts["app-1"], Quorum: 2, DownAfter: time.Second,
			FailoverTimeout: 5 * time.Second, Password: testPassword, Extra: sentinelAuth})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(s.Dir(), "redis.log"))
				t.Logf("sentinel %s log:\n%s", s.Addr(), lastLines(string(b), 60))
			}
			s.Close()
		})
		// Timings as the operator sets them (without them Sentinel can
		// fail over a second time right after the first).
		sc := s.SentinelClient()
		err = sentinel.Tune(context.Background(), sc)
		sc.Close()
		if err != nil {
			t.Fatal(err)
		}
		sentinels = append(sentinels, s)
		c.cfg.Sentinels = append(c.cfg.Sentinels, s.Addr())
	}
	c.cfg.SentinelAuthEnabled = true
	for _, n := range names {
		c.start(n)
	}
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	waitRole(t, c.members["app-2"].m, "replica", 60*time.Second)
	waitRole(t, c.members["app-3"].m, "replica", 60*time.Second)
	if d := c.members["app-1"].m.Status().LastDecision; d.RecordedBy != "sentinels" {
		t.Errorf("app-1 booted on the record of %q, want the sentinels'", d.RecordedBy)
	}

	ctx := context.Background()
	master := c.cfg.MasterName
	for _, s := range sentinels {
		sc := s.Client()
		defer sc.Close()
		redistest.WaitFor(t, 90*time.Second, "sentinel "+s.Addr()+" sees the replicas and the other sentinels", func(ctx context.Context) error {
			reps, err := sc.Do(ctx, "SENTINEL", "REPLICAS", master).Slice()
			if err != nil {
				return err
			}
			others, err := sc.Do(ctx, "SENTINEL", "SENTINELS", master).Slice()
			if err != nil {
				return err
			}
			if len(reps) != 2 || len(others) != 2 {
				return fmt.Errorf("%d replicas, %d other sentinels", len(reps), len(others))
			}
			return nil
		})
	}

	if aclUsers {
		for _, n := range names {
			checkApplicationUser(t, c, n)
		}
	}
	old := c.client("app-1")
	for i := 0; i < 100; i++ {
		if err := old.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := old.Wait(ctx, 2, 5000).Result(); err != nil || n != 2 {
		t.Fatalf("WAIT 2: %d, %v", n, err)
	}

	oldMgr := c.members["app-1"].m
	if podRestart {
		c.members["app-1"].stop(t)
		oldMgr = c.start("app-1").m
	} else if err := syscall.Kill(oldMgr.Status().RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	// Write to the old primary in a loop until it is a replica in sync.
	writer := redis.NewClient(&redis.Options{Addr: c.cfg.Hosts["app-1"], Password: testPassword, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer writer.Close()
	var attempts, readonly, accepted int
	sawWaiting := false
	deadline := time.Now().Add(120 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the old primary did not become a replica in sync within 120s: %+v", oldMgr.Status())
		}
		attempts++
		err := writer.Set(ctx, "written-to-old-primary", attempts, 0).Err()
		switch {
		case err == nil:
			accepted++
			if accepted == 1 {
				t.Errorf("the old primary accepted a write (attempt %d) while its status was %+v", attempts, oldMgr.Status())
			}
		case strings.HasPrefix(err.Error(), "READONLY"):
			readonly++
		}
		s := oldMgr.Status()
		if s.Phase == instanceapi.PhaseWaiting {
			sawWaiting = true
		}
		if s.Role == "replica" && s.Ready && readonly > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if accepted > 0 {
		t.Fatalf("%d of %d writes to the old primary were accepted", accepted, attempts)
	}
	if !sawWaiting {
		t.Errorf("the old primary's manager never waited for the failover")
	}

	s := oldMgr.Status()
	d := s.LastDecision
	if d == nil || d.Action != "replica" || d.RecordedBy != "sentinels" || (d.Master != "app-2" && d.Master != "app-3") {
		t.Fatalf("last boot decision of the old primary: %+v", d)
	}
	if wantRestarts := map[bool]int{false: 1, true: 0}[podRestart]; s.Restarts != wantRestarts {
		t.Errorf("restarts = %d, want %d", s.Restarts, wantRestarts)
	}
	// The new primary's manager observes its role on a poll: it may still
	// say replica a moment after its promotion.
	newPrimary := c.members[d.Master].m
	redistest.WaitFor(t, 30*time.Second, d.Master+"'s manager reports it primary", func(context.Context) error {
		if ns := newPrimary.Status(); ns.Role != "primary" {
			return fmt.Errorf("role %s", ns.Role)
		}
		return nil
	})
	nc := c.client(d.Master)
	if n, err := nc.DBSize(ctx).Result(); err != nil || n != 100 {
		t.Errorf("new primary holds %d keys (%v), want the 100 written before the kill", n, err)
	}
	if n, err := old.DBSize(ctx).Result(); err != nil || n != 100 {
		t.Errorf("the old primary, now a replica, holds %d keys (%v), want 100", n, err)
	}
	if err := old.Get(ctx, "written-to-old-primary").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET of the key written to the old primary: %v, want nil (never written)", err)
	}
	t.Logf("%d writes to the old primary, %d READONLY, none accepted", attempts, readonly)

	// A replica whose redis-server dies comes back as a replica of the
	// primary the sentinels name, at once (no failover needed).
	other := "app-2"
	if d.Master == "app-2" {
		other = "app-3"
	}
	om := c.members[other].m
	opid := om.Status().RedisPID
	if err := syscall.Kill(opid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 60*time.Second, other+" restarted as a replica", func(context.Context) error {
		s := om.Status()
		if s.RedisPID == opid || s.Role != "replica" || !s.Ready {
			return fmt.Errorf("pid %d role %s ready %v phase %s", s.RedisPID, s.Role, s.Ready, s.Phase)
		}
		return nil
	})
	if od := om.Status().LastDecision; od.Action != "replica" || od.Master != d.Master || od.RecordedBy != "sentinels" {
		t.Errorf("%s after its crash: %+v, want a replica of %s by the sentinels' record", other, od, d.Master)
	}
}
