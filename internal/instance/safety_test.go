package instance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redisinfo"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinel"
)

// startSentinels starts three sentinels of c monitoring primary, each
// also told the given instances as known replicas (as a sentinel.conf
// rendered by haredis does), tuned as the operator tunes them; their
// addresses go into c.cfg.
func (c *testCluster) startSentinels(primary string, knownReplicas ...string) []*redistest.Sentinel {
	c.t.Helper()
	var extra []string
	for _, r := range knownReplicas {
		host, port, _ := net.SplitHostPort(c.cfg.Hosts[r])
		extra = append(extra, fmt.Sprintf("sentinel known-replica %s %s %s", c.cfg.MasterName, host, port))
	}
	var out []*redistest.Sentinel
	c.cfg.Sentinels = nil
	for range 3 {
		s, err := redistest.StartSentinel(redistest.SentinelConfig{MasterName: c.cfg.MasterName,
			MasterAddr: c.cfg.Hosts[primary], Quorum: 2, DownAfter: time.Second,
			FailoverTimeout: 5 * time.Second, Password: testPassword, Extra: extra})
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() {
			if c.t.Failed() {
				b, _ := os.ReadFile(filepath.Join(s.Dir(), "redis.log"))
				c.t.Logf("sentinel %s log:\n%s", s.Addr(), lastLines(string(b), 40))
			}
			s.Close()
		})
		sc := s.SentinelClient()
		err = sentinel.Tune(context.Background(), sc)
		sc.Close()
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, s)
		c.cfg.Sentinels = append(c.cfg.Sentinels, s.Addr())
	}
	c.cfg.SentinelAuthEnabled = true
	return out
}

// crash kills an instance's redis-server and its manager at once, as a
// power loss does: nothing is saved or stopped cleanly.
func (c *testCluster) crash(name string) {
	c.t.Helper()
	tm := c.members[name]
	pid := tm.m.Status().RedisPID
	tm.cancel()
	if pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-tm.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("the manager of %s did not stop", name)
	}
}

func (c *testCluster) keys(name string) int64 {
	c.t.Helper()
	n, err := c.client(name).DBSize(context.Background()).Result()
	if err != nil {
		return -1
	}
	return n
}

func (c *testCluster) write(name string, from, to int) {
	c.t.Helper()
	cl := c.client(name)
	ctx := context.Background()
	for i := from; i < to; i++ {
		if err := cl.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			c.t.Fatalf("SET on %s: %v", name, err)
		}
	}
}

func (c *testCluster) waitKeys(names []string, want int64, timeout time.Duration) {
	c.t.Helper()
	for _, n := range names {
		redistest.WaitFor(c.t, timeout, fmt.Sprintf("%s holds %d keys", n, want), func(context.Context) error {
			if got := c.keys(n); got != want {
				return fmt.Errorf("%d keys (%s)", got, c.members[n].m.Status().Phase)
			}
			return nil
		})
	}
}

// save runs SAVE on n, again while a background save (a replica's full
// synchronisation forks one) is in progress.
func (c *testCluster) save(n string) {
	c.t.Helper()
	redistest.WaitFor(c.t, 30*time.Second, "SAVE on "+n, func(ctx context.Context) error {
		return c.client(n).Save(ctx).Err()
	})
}

// TestFullRestartNewestDataBecomesPrimary: every instance loses power at
// once with RDB snapshots of different ages (the primary saved after the
// replicas). The sentinels, started afresh, know the replicas and would
// fail over to one of them; the replicas hold older snapshots, so they must
// stay unpromotable and the primary, holding the newest data, must boot
// as primary: nothing that was on a disk is lost.
func TestFullRestartNewestDataBecomesPrimary(t *testing.T) {
	names := []string{"app-1", "app-2", "app-3"}
	c := newTestCluster(t, names, nil, nil)
	c.cfg.Persistence = instanceconfig.PersistenceRDB
	first := c.startSentinels("app-1")
	for _, n := range names {
		c.start(n)
	}
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	c.write("app-1", 0, 100)
	c.waitKeys(names, 100, 30*time.Second)
	for _, n := range names {
		c.save(n)
	}
	c.write("app-1", 100, 200)
	c.waitKeys(names, 200, 30*time.Second)
	c.save("app-1")
	for _, n := range names {
		c.crash(n)
	}
	for _, s := range first {
		s.Close()
	}

	c.startSentinels("app-1", "app-2", "app-3")
	for _, n := range []string{"app-2", "app-3", "app-1"} {
		c.start(n)
	}
	redistest.WaitFor(t, 90*time.Second, "app-1 primary with every key", func(context.Context) error {
		s := c.members["app-1"].m.Status()
		if s.Role != "primary" || c.keys("app-1") != 200 {
			return fmt.Errorf("app-1: role %s, %d keys, phase %s, %v", s.Role, c.keys("app-1"), s.Phase, s.LastDecision)
		}
		return nil
	})
	c.waitKeys(names, 200, 60*time.Second)
	for _, n := range []string{"app-2", "app-3"} {
		if s := c.members[n].m.Status(); s.Role != "replica" {
			t.Errorf("%s is %s, want a replica of the newest data", n, s.Role)
		}
	}
}

// savedState reads the state file on n's volume.
func (c *testCluster) savedState(n string) state {
	c.t.Helper()
	var st state
	if _, err := readJSON(filepath.Join(stateDir(c.members[n].dataDir), "state.json"), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// TestEveryInstanceKilledPrimarySampledEarlier: the primary keeps every
// write in its append-only file; its replica stops, the primary takes more
// writes, then it is killed too. The manager samples positions at most once
// a second, so the primary's last sample can be lower than its replica's:
// here it is made so. The primary must still come back as primary and the
// replica follow it: promoting the replica would lose every write only the
// primary holds.
func TestEveryInstanceKilledPrimarySampledEarlier(t *testing.T) {
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, nil)
	first := c.startSentinels("app-1")
	for _, n := range names {
		c.start(n)
	}
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	c.write("app-1", 0, 100)
	c.waitKeys(names, 100, 30*time.Second)
	// The primary's position as its server gives it, not as the manager
	// last sampled it: the replica's record must have reached it.
	info, err := c.client("app-1").Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	repl, err := redisinfo.ParseInfo(info).Replication()
	if err != nil || repl.ReplID == "" || repl.Offset <= 0 {
		t.Fatalf("app-1's replication position: %+v, %v", repl, err)
	}
	var replicaSample int64
	redistest.WaitFor(t, 30*time.Second, "app-2's state file records the offset it reached", func(context.Context) error {
		st := c.savedState("app-2")
		if replicaSample = st.Position.Offset; st.Position.ReplID != repl.ReplID || replicaSample < repl.Offset || !st.HadData {
			return fmt.Errorf("app-2 recorded %s (held data: %v), the primary is at %s@%d", st.Position, st.HadData, repl.ReplID, repl.Offset)
		}
		return nil
	})
	c.crash("app-2")
	c.write("app-1", 100, 200)
	redistest.WaitFor(t, 30*time.Second, "app-1's state file records it as the primary keeping every write", func(context.Context) error {
		if st := c.savedState("app-1"); !st.Position.Head || st.Role != "master" {
			return fmt.Errorf("app-1 recorded role %s at %s", st.Role, st.Position)
		}
		return nil
	})
	c.crash("app-1")
	for _, s := range first {
		s.Close()
	}
	st := c.savedState("app-1")
	st.Position.Offset, st.Position.Exact, st.Clean = replicaSample-10, false, false
	if err := writeJSON(filepath.Join(stateDir(c.members["app-1"].dataDir), "state.json"), st); err != nil {
		t.Fatal(err)
	}

	c.startSentinels("app-1", "app-2")
	c.start("app-2")
	c.start("app-1")
	redistest.WaitFor(t, 90*time.Second, "app-1 primary with every key", func(context.Context) error {
		s, r := c.members["app-1"].m.Status(), c.members["app-2"].m.Status()
		if s.Role != "primary" || c.keys("app-1") != 200 {
			return fmt.Errorf("app-1: role %s, %d keys, phase %s, %v; app-2: role %s, promotable %v (%s)",
				s.Role, c.keys("app-1"), s.Phase, s.LastDecision, r.Role, r.Promotable, r.PromotableReason)
		}
		return nil
	})
	c.waitKeys(names, 200, 60*time.Second)
	if s := c.members["app-2"].m.Status(); s.Role != "replica" {
		t.Errorf("app-2 is %s, want a replica of app-1", s.Role)
	}
}

// TestFullRestartOlderRecordedPrimaryWaits: the recorded primary (a stale
// initial record of a re-created RedisFailover) holds an older snapshot
// than the replicas: it must not boot as primary; a replica with the newest
// data is promoted by the sentinels instead.
func TestFullRestartOlderRecordedPrimaryWaits(t *testing.T) {
	names := []string{"app-1", "app-2", "app-3"}
	c := newTestCluster(t, names, nil, nil)
	c.cfg.Persistence = instanceconfig.PersistenceRDB
	first := c.startSentinels("app-1")
	for _, n := range names {
		c.start(n)
	}
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	c.write("app-1", 0, 100)
	c.waitKeys(names, 100, 30*time.Second)
	c.save("app-3")
	c.crash("app-3")
	c.write("app-1", 100, 300)
	c.waitKeys([]string{"app-1", "app-2"}, 300, 30*time.Second)
	for _, n := range []string{"app-1", "app-2"} {
		c.save(n)
		c.crash(n)
	}
	for _, s := range first {
		s.Close()
	}

	// The record names app-3, which holds 100 keys of 300.
	c.cfg.InitialPrimary = "app-3"
	sentinels := c.startSentinels("app-3", "app-1", "app-2")
	for _, n := range []string{"app-3", "app-1", "app-2"} {
		c.start(n)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		sc := sentinels[0].SentinelClient()
		defer sc.Close()
		ctx := context.Background()
		m, err := sc.Master(ctx, c.cfg.MasterName).Result()
		t.Logf("sentinel master: %v %v", m, err)
		r, err := sc.Replicas(ctx, c.cfg.MasterName).Result()
		t.Logf("sentinel replicas: %v %v", r, err)
		o, err := sc.Sentinels(ctx, c.cfg.MasterName).Result()
		t.Logf("sentinel peers: %v %v", o, err)
	})
	var primary string
	redistest.WaitFor(t, 90*time.Second, "a primary holding every key", func(context.Context) error {
		for _, n := range []string{"app-1", "app-2"} {
			if s := c.members[n].m.Status(); s.Role == "primary" && c.keys(n) == 300 {
				primary = n
				return nil
			}
		}
		s := c.members["app-3"].m.Status()
		s1, s2 := c.members["app-1"].m.Status(), c.members["app-2"].m.Status()
		return fmt.Errorf("app-3: pos %s hasData %v role %s phase %s %v; app-1 promotable %v (%s), app-2 promotable %v (%s)", s.DataPosition, s.HasData, s.Role, s.Phase, s.LastDecision,
			s1.Promotable, s1.PromotableReason, s2.Promotable, s2.PromotableReason)
	})
	c.waitKeys(names, 300, 60*time.Second)
	t.Logf("%s became primary; app-3 (the stale record) follows it", primary)
}

// TestScaleUpThenCrashKeepsData: a primary whose instance.json was read
// before a scale up (it lists only itself) must still count the replicas
// that joined since: they replicated from it (its state file) and the
// sentinels know them. Its redis-server is killed and comes back with an
// empty RDB: it must never be primary over them.
func TestScaleUpThenCrashKeepsData(t *testing.T) {
	names := []string{"app-1", "app-2", "app-3"}
	c := newTestCluster(t, names, nil, nil)
	c.cfg.Persistence = instanceconfig.PersistenceRDB
	c.cfg.Config = map[string]string{"save": ""} // no snapshot: the restart is empty
	c.startSentinels("app-1")
	full := c.cfg
	// app-1 starts alone, as with replicas: 1.
	alone := *full
	alone.Instances = []string{"app-1"}
	c.cfg = &alone
	c.start("app-1")
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	c.write("app-1", 0, 500)
	// Scaled to 3: the new instances get the new list; app-1 keeps its own.
	c.cfg = full
	c.start("app-2")
	c.start("app-3")
	c.waitKeys(names, 500, 60*time.Second)
	waitRole(t, c.members["app-2"].m, "replica", 30*time.Second)
	waitRole(t, c.members["app-3"].m, "replica", 30*time.Second)
	redistest.WaitFor(t, 30*time.Second, "app-1's state file names its replicas", func(context.Context) error {
		m := c.members["app-1"].m
		m.mu.Lock()
		reps := m.data.saved.Replicas
		m.mu.Unlock()
		if len(reps) != 2 {
			return fmt.Errorf("replicas %v", reps)
		}
		return nil
	})
	old := c.members["app-1"].m
	if err := syscall.Kill(old.Status().RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 90*time.Second, "a new primary with every key and app-1 following it", func(context.Context) error {
		s := old.Status()
		if s.Role != "replica" || !s.Ready {
			return fmt.Errorf("app-1: role %s phase %s %v", s.Role, s.Phase, s.LastDecision)
		}
		return nil
	})
	c.waitKeys(names, 500, 60*time.Second)
}

// TestReplicaNotPromotableUntilSynced: a new, empty replica keeps
// replica-priority 0 (Sentinel never promotes it) until its first full
// synchronisation completes, then gets its normal priority.
func TestReplicaNotPromotableUntilSynced(t *testing.T) {
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, map[string]string{"repl-diskless-sync-delay": "3"})
	c.start("app-1")
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	c.write("app-1", 0, 100)
	c.start("app-2")
	ctx := context.Background()
	cl := c.client("app-2")
	sawZero := false
	redistest.WaitFor(t, 60*time.Second, "app-2 synchronised and promotable", func(context.Context) error {
		info, err := cl.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		switch {
		case strings.Contains(info, "master_link_status:down") || strings.Contains(info, "master_sync_in_progress:1"):
			if !strings.Contains(info, "slave_priority:0\r") {
				t.Fatalf("app-2 is promotable before its first synchronisation:\n%s", info)
			}
			sawZero = true
			return fmt.Errorf("synchronising")
		case !strings.Contains(info, "slave_priority:100\r"):
			return fmt.Errorf("synchronised, priority not restored yet")
		}
		return nil
	})
	if !sawZero {
		t.Error("never saw app-2 before its synchronisation completed")
	}
	if s := c.members["app-2"].m.Status(); !s.Promotable || !s.Synced {
		t.Errorf("status: promotable %v synced %v (%s)", s.Promotable, s.Synced, s.PromotableReason)
	}
}

// TestPersistenceChangeKeepsData: a single instance whose persistence
// mode changes (AOF to RDB to AOF to None, each a restart as the rolling
// update does) keeps its data: Redis loads only the files of the mode it
// starts in, so the manager starts it in the mode of the files and
// switches live.
func TestPersistenceChangeKeepsData(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.start("app-1")
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	c.write("app-1", 0, 300)
	dir := c.members["app-1"].dataDir
	for _, step := range []struct {
		mode           string
		aof, rdb, gone string
	}{
		{mode: instanceconfig.PersistenceRDB, rdb: "dump.rdb", gone: "appendonlydir"},
		{mode: instanceconfig.PersistenceAOF, aof: "appendonlydir"},
		{mode: instanceconfig.PersistenceNone, gone: "appendonlydir"},
		// and None keeps nothing on disk: not even the older snapshot.
	} {
		c.members["app-1"].stop(t)
		c.cfg.Persistence = step.mode
		c.start("app-1")
		waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
		if n := c.keys("app-1"); n != 300 {
			t.Fatalf("after the change to %s: %d keys, want 300", step.mode, n)
		}
		redistest.WaitFor(t, 30*time.Second, "the files of "+step.mode, func(context.Context) error {
			for _, want := range []string{step.aof, step.rdb} {
				if want == "" {
					continue
				}
				if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
					return err
				}
			}
			if step.gone != "" {
				if _, err := os.Stat(filepath.Join(dir, step.gone)); err == nil {
					return fmt.Errorf("%s still there", step.gone)
				}
			}
			return nil
		})
		if step.mode == instanceconfig.PersistenceAOF && !hasAOF(dir) {
			t.Errorf("no append-only manifest after the change to AOF")
		}
	}
}

// TestCorruptReplicaFilesMovedAside: a replica whose append-only file is
// corrupt cannot load it; its manager says so, moves the files aside (the
// primary runs and holds the data) and the replica resynchronises. The
// primary's own unreadable files are never moved: a single instance
// reports the error and waits for a human.
func TestCorruptReplicaFilesMovedAside(t *testing.T) {
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, nil)
	c.startSentinels("app-1")
	for _, n := range names {
		c.start(n)
	}
	waitRole(t, c.members["app-2"].m, "replica", 60*time.Second)
	c.write("app-1", 0, 200)
	c.waitKeys(names, 200, 30*time.Second)
	c.members["app-2"].stop(t)
	corruptAOF(t, c.members["app-2"].dataDir)
	c.start("app-2")
	m := c.members["app-2"].m
	redistest.WaitFor(t, 60*time.Second, "app-2 resynchronised with its files moved aside", func(context.Context) error {
		s := m.Status()
		if s.Quarantined == "" || s.Role != "replica" || !s.Ready {
			return fmt.Errorf("role %s ready %v quarantined %q dataError %q phase %s", s.Role, s.Ready, s.Quarantined, s.DataError, s.Phase)
		}
		return nil
	})
	c.waitKeys([]string{"app-2"}, 200, 30*time.Second)
	if _, err := os.Stat(filepath.Join(m.Status().Quarantined, "appendonlydir")); err != nil {
		t.Errorf("the unreadable files are not kept: %v", err)
	}

	// A single instance (no peer holds the data): nothing is moved.
	solo := newTestCluster(t, []string{"app-1"}, nil, nil)
	solo.start("app-1")
	waitRole(t, solo.members["app-1"].m, "primary", 60*time.Second)
	solo.write("app-1", 0, 10)
	solo.members["app-1"].stop(t)
	corruptAOF(t, solo.members["app-1"].dataDir)
	solo.start("app-1")
	sm := solo.members["app-1"].m
	redistest.WaitFor(t, 60*time.Second, "the error reported", func(context.Context) error {
		if s := sm.Status(); s.DataError == "" {
			return fmt.Errorf("phase %s, no data error", s.Phase)
		}
		return nil
	})
	if s := sm.Status(); s.Quarantined != "" || s.RedisUp {
		t.Errorf("the only copy was moved aside (%q) or a server runs on it (%v)", s.Quarantined, s.RedisUp)
	}
	if !strings.Contains(sm.Status().DataError, "append only file") {
		t.Errorf("data error %q does not name the file", sm.Status().DataError)
	}
	if code := probe(t, sm, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200: restarting the container would not help", code)
	}
}

// corruptAOF overwrites the middle of the newest incremental AOF file.
func corruptAOF(t *testing.T, dataDir string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "appendonlydir"))
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".incr.aof") {
			victim = filepath.Join(dataDir, "appendonlydir", e.Name())
		}
	}
	b, err := os.ReadFile(victim)
	if err != nil || len(b) < 64 {
		t.Fatalf("no incremental AOF to corrupt (%v, %d bytes)", err, len(b))
	}
	copy(b[len(b)/2:], []byte("\x00garbage\x00garbage\x00"))
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func probe(t *testing.T, m *Manager, path string) int {
	t.Helper()
	return get(t, m.HTTPAddr(), path)
}

// get is a GET of path at addr without a token; it returns the status.
func get(t *testing.T, addr, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAPIRequiresTheToken: everything but the kubelet's probes needs the
// manager token; the probes answer without it, and so do the metrics on
// their own listener, which serves nothing else.
func TestAPIRequiresTheToken(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	m := c.start("app-1").m
	waitRole(t, m, "primary", 60*time.Second)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code := probe(t, m, p); code != http.StatusOK {
			t.Errorf("%s without a token = %d, want 200", p, code)
		}
	}
	for _, p := range []string{"/status", "/metrics", "/config"} {
		if code := probe(t, m, p); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d, want 401", p, code)
		}
	}
	// The metrics listener serves the metrics alone, without a token.
	if code := get(t, m.MetricsAddr(), "/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics of the metrics listener without a token = %d, want 200", code)
	}
	for _, p := range []string{"/status", "/config"} {
		if code := get(t, m.MetricsAddr(), p); code != http.StatusNotFound {
			t.Errorf("GET %s of the metrics listener = %d, want 404", p, code)
		}
	}
	wrong := &instanceapi.Client{BaseURL: "http://" + m.HTTPAddr(), Token: "not-the-token"}
	_, err := wrong.PutConfig(context.Background(), instanceapi.PutConfigRequest{Config: map[string]string{},
		Durability: &instanceapi.Durability{MinReplicasToWrite: 1000, MaxLagSeconds: 10}})
	if instanceapi.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("PUT /config with a wrong token: %v, want 401", err)
	}
	if d := m.Durability(); d.MinReplicasToWrite != 0 {
		t.Errorf("durability changed to %+v by a refused request", d)
	}
	right := &instanceapi.Client{BaseURL: "http://" + m.HTTPAddr(), Token: testToken}
	if _, err := right.PutConfig(context.Background(), instanceapi.PutConfigRequest{Generation: 1, Config: map[string]string{},
		Durability: &instanceapi.Durability{MinReplicasToWrite: 1000, MaxLagSeconds: 10}}); instanceapi.StatusCode(err) != http.StatusBadRequest {
		t.Errorf("minReplicasToWrite 1000: %v, want 400", err)
	}
}

// TestDurabilityChangedBehindTheManager: min-replicas-to-write changed on
// the server directly shows in the status, and a request for the
// durability in force puts it back.
func TestDurabilityChangedBehindTheManager(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	m := c.start("app-1").m
	waitRole(t, m, "primary", 60*time.Second)
	ctx := context.Background()
	if err := c.client("app-1").ConfigSet(ctx, "min-replicas-to-write", "5").Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 10*time.Second, "the live value reported", func(context.Context) error {
		if l := m.Status().DurabilityLive; l == nil || l.MinReplicasToWrite != 5 {
			return fmt.Errorf("live %+v", l)
		}
		return nil
	})
	cl := &instanceapi.Client{BaseURL: "http://" + m.HTTPAddr(), Token: testToken}
	if _, err := cl.PutConfig(ctx, instanceapi.PutConfigRequest{Generation: 1, Config: map[string]string{},
		Durability: &instanceapi.Durability{MinReplicasToWrite: 0, MaxLagSeconds: 10}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.client("app-1").ConfigGet(ctx, "min-replicas-to-write").Result(); v["min-replicas-to-write"] != "0" {
		t.Errorf("min-replicas-to-write = %q after the request, want 0", v["min-replicas-to-write"])
	}
}

// TestGroupOfAnotherRedisFailoverIgnored: a volume kept from a deleted
// RedisFailover holds its parameter group with a higher generation; the
// RedisFailover created again on it starts at generation 1 with its own
// group, which must win.
func TestGroupOfAnotherRedisFailoverIgnored(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, map[string]string{"notify-keyspace-events": "gxE"})
	tm := c.start("app-1")
	waitRole(t, tm.m, "primary", 60*time.Second)
	cl := &instanceapi.Client{BaseURL: "http://" + tm.m.HTTPAddr(), Token: testToken}
	if _, err := cl.PutConfig(context.Background(), instanceapi.PutConfigRequest{Generation: 9, Config: map[string]string{"maxmemory-policy": "allkeys-lru"}}); err != nil {
		t.Fatal(err)
	}
	tm.stop(t)
	c.cfg.MasterName += "-again"
	c.cfg.ConfigGeneration = 1
	m := c.start("app-1").m
	waitRole(t, m, "primary", 60*time.Second)
	g := m.Group()
	if g.Desired["notify-keyspace-events"] != "gxE" || g.Generation != 1 {
		t.Errorf("group in force %+v (generation %d), want the new RedisFailover's", g.Desired, g.Generation)
	}
}

// TestReadinessFollowsTheRoleLabel: a pod labelled primary whose instance
// is a replica (a demoted primary while the operator is down) is not
// ready, so that the primary Service stops selecting it.
func TestReadinessFollowsTheRoleLabel(t *testing.T) {
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, nil)
	c.start("app-1")
	tm := c.start("app-2")
	waitRole(t, tm.m, "replica", 60*time.Second)
	podinfo := t.TempDir()
	tm.m.opts.PodInfoDir = podinfo
	write := func(role string) {
		if err := os.WriteFile(filepath.Join(podinfo, "labels"), []byte(fmt.Sprintf("app.kubernetes.io/name=\"haredis\"\nharedis.dev/role=%q\n", role)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("primary")
	if code := probe(t, tm.m, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a replica labelled primary = %d, want 503", code)
	}
	write("replica")
	if code := probe(t, tm.m, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz of a replica labelled replica = %d, want 200", code)
	}
}

// TestForcedPrimaryBoots: the recorded primary waits for a failover to a
// replica holding its data, but no sentinel exists to carry it out; a
// human's choice lets it boot as primary, and the replica follows it.
func TestForcedPrimaryBoots(t *testing.T) {
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, nil)
	c.start("app-1")
	c.start("app-2")
	waitRole(t, c.members["app-2"].m, "replica", 60*time.Second)
	c.write("app-1", 0, 50)
	c.waitKeys(names, 50, 30*time.Second)
	c.crash("app-1")
	m1 := c.start("app-1").m
	redistest.WaitFor(t, 30*time.Second, "app-1 waits for a failover", func(context.Context) error {
		if s := m1.Status(); s.Phase != instanceapi.PhaseWaiting {
			return fmt.Errorf("phase %s", s.Phase)
		}
		return nil
	})
	for _, n := range names {
		c.members[n].m.Force("app-1")
	}
	waitRole(t, m1, "primary", 60*time.Second)
	waitRole(t, c.members["app-2"].m, "replica", 60*time.Second)
	// The forced primary's data wins, whatever it holds (a SIGKILL may
	// have cost it the writes of its last second: appendfsync everysec).
	c.waitKeys([]string{"app-2"}, c.keys("app-1"), 30*time.Second)
	if s := m1.Status(); s.Forced != "app-1" || !strings.Contains(s.LastDecision.Reason, "human") {
		t.Errorf("status forced %q, decision %q", s.Forced, s.LastDecision.Reason)
	}
}

// TestParameterChangedBehindTheManager: a parameter of the group changed
// with CONFIG SET on the server is put back within a check period and
// counted in the status.
func TestParameterChangedBehindTheManager(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, map[string]string{"notify-keyspace-events": "gxE", "maxmemory": "1gb"})
	m := c.start("app-1").m
	waitRole(t, m, "primary", 60*time.Second)
	ctx := context.Background()
	cl := c.client("app-1")
	// Let the manager take its snapshot of the group in force first.
	redistest.WaitFor(t, 15*time.Second, "the baseline taken", func(context.Context) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.drift.baseline == nil {
			return fmt.Errorf("no baseline yet")
		}
		return nil
	})
	if err := cl.ConfigSet(ctx, "notify-keyspace-events", "").Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the parameter put back", func(context.Context) error {
		v, err := cl.ConfigGet(ctx, "notify-keyspace-events").Result()
		if err != nil {
			return err
		}
		if got := v["notify-keyspace-events"]; !strings.Contains(got, "g") || !strings.Contains(got, "E") {
			return fmt.Errorf("notify-keyspace-events %q", got)
		}
		return nil
	})
	if s := m.Status(); s.Config.Restores != 1 || !strings.Contains(s.Config.LastRestore, "notify-keyspace-events") {
		t.Errorf("status restores %d, last %q", s.Config.Restores, s.Config.LastRestore)
	}
	// A request for the same group (the operator restoring a changed
	// durability) must not make a changed parameter the new normal.
	if err := cl.ConfigSet(ctx, "notify-keyspace-events", "").Err(); err != nil {
		t.Fatal(err)
	}
	api := &instanceapi.Client{BaseURL: "http://" + m.HTTPAddr(), Token: testToken}
	if _, err := api.PutConfig(ctx, instanceapi.PutConfigRequest{Config: map[string]string{"notify-keyspace-events": "gxE", "maxmemory": "1gb"},
		Durability: &instanceapi.Durability{MinReplicasToWrite: 0, MaxLagSeconds: 7}}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the parameter put back after a request for the same group", func(context.Context) error {
		v, err := cl.ConfigGet(ctx, "notify-keyspace-events").Result()
		if err != nil {
			return err
		}
		if got := v["notify-keyspace-events"]; got == "" {
			return fmt.Errorf("notify-keyspace-events %q", got)
		}
		return nil
	})
}
