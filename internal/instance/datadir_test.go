package instance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
)

// TestOwnData inspects files written by a real redis-server: an empty RDB,
// an RDB with a key, and a multi-part AOF with a key.
func TestOwnData(t *testing.T) {
	ctx := context.Background()
	srv, err := redistest.StartServer(redistest.ServerConfig{Extra: []string{"aof-use-rdb-preamble yes"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := srv.Client()
	defer c.Close()
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	copyFile(t, filepath.Join(srv.Dir(), "dump.rdb"), filepath.Join(empty, "dump.rdb"))
	d, _, err := inspectDataDir(empty)
	if err != nil {
		t.Fatal(err)
	}
	if d.HasData {
		t.Errorf("empty RDB: %+v, want no data", d)
	}

	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	copyFile(t, filepath.Join(srv.Dir(), "dump.rdb"), filepath.Join(full, "dump.rdb"))
	if d, pos, err := inspectDataDir(full); err != nil || !d.HasData || pos.Known() {
		t.Errorf("RDB with a key: %+v (position %s), %v; want data and no position (a primary without replicas records none)", d, pos, err)
	}

	// Turning AOF on writes a base file of the current data set.
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	// Copy only once the rewrite is over: while it runs, Redis renames
	// temporary files in appendonlydir under our feet.
	redistest.WaitFor(t, 10*time.Second, "AOF base written", func(ctx context.Context) error {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		for _, busy := range []string{"aof_rewrite_in_progress:1", "aof_rewrite_scheduled:1", "aof_enabled:0"} {
			if strings.Contains(info, busy) {
				return fmt.Errorf("AOF rewrite not finished (%s)", busy)
			}
		}
		_, err = os.Stat(filepath.Join(srv.Dir(), "appendonlydir", "appendonly.aof.manifest"))
		return err
	})
	aofOnly := t.TempDir()
	if err := os.CopyFS(filepath.Join(aofOnly, "appendonlydir"), os.DirFS(filepath.Join(srv.Dir(), "appendonlydir"))); err != nil {
		t.Fatal(err)
	}
	if d, _, err := inspectDataDir(aofOnly); err != nil || !d.HasData || !hasAOF(aofOnly) {
		t.Errorf("AOF with a key: %+v, %v; want data", d, err)
	}

	if d, _, err := inspectDataDir(t.TempDir()); err != nil || d.HasData {
		t.Errorf("empty volume: %+v, %v; want no data", d, err)
	}
	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, "dump.rdb"), []byte("not an rdb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := inspectDataDir(garbage); !d.HasData {
		t.Error("an unreadable RDB must count as data")
	}
}

// TestStateFileFromAnEarlierManager: a state file that kept only an offset
// and a replication id still gives the position.
func TestStateFileFromAnEarlierManager(t *testing.T) {
	dir := t.TempDir()
	legacy := `{"role": "master", "offset": 42, "replID": "r", "keys": 3, "hadData": true, "updated": "2026-11-30T10:00:00Z"}`
	if err := os.MkdirAll(stateDir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stateDir(dir), "state.json"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &Manager{opts: Options{DataDir: dir}, log: testLogger(t)}
	m.cfg = &instanceconfig.Config{Persistence: instanceconfig.PersistenceAOF}
	m.loadState()
	d := m.ownFacts()
	want := bootrole.OwnData{HadData: true, LastRole: "master", Position: bootrole.Position{ReplID: "r", Offset: 42}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRefusal(t *testing.T) {
	out := "123:C 25 Nov 2026 # oO0OoO0OoO0Oo Redis is starting\n\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n" +
		"Reading the configuration file, at line 17\n>>> 'maxmemory-policy \"bogus\"'\nargument(s) must be one of the following: noeviction\n"
	want := &RefusedError{Directive: `maxmemory-policy "bogus"`, Message: "argument(s) must be one of the following: noeviction"}
	if diff := cmp.Diff(want, refusal(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r := refusal("Fatal error, can't open config file\n").(*RefusedError); r.Message == "" {
		t.Error("a refusal without a directive lost Redis's message")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
