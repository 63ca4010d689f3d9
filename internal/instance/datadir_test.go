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
	d, err := ownData(empty)
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
	if d, err := ownData(full); err != nil || !d.HasData {
		t.Errorf("RDB with a key: %+v, %v; want data", d, err)
	}

	// Turning AOF on writes a base file of the current data set.
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	// Copy only once the rewrite is over: while it runs, Redis renames
	// temporary files in appendonlydir under our feet.
	eventually(t, 10*time.Second, "AOF base written", func(ctx context.Context) error {
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
	if d, err := ownData(aofOnly); err != nil || !d.HasData {
		t.Errorf("AOF with a key: %+v, %v; want data", d, err)
	}

	if d, err := ownData(t.TempDir()); err != nil || d.HasData {
		t.Errorf("empty volume: %+v, %v; want no data", d, err)
	}
	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, "dump.rdb"), []byte("not an rdb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, _ := ownData(garbage); !d.HasData {
		t.Error("an unreadable RDB must count as data")
	}
}

func TestStateRemembersData(t *testing.T) {
	dir := t.TempDir()
	if err := writeJSON(filepath.Join(stateDir(dir), "state.json"), state{Role: "master", Offset: 42, ReplID: "r", HadData: true}); err != nil {
		t.Fatal(err)
	}
	d, err := ownData(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := ownDataWant{HadData: true, LastRole: "master", LastOffset: 42, LastReplID: "r"}
	if diff := cmp.Diff(want, ownDataWant{d.HasData, d.HadData, d.LastRole, d.LastOffset, d.LastReplID}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

type ownDataWant struct {
	HasData, HadData bool
	LastRole         string
	LastOffset       int64
	LastReplID       string
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
