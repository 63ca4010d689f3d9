package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/writeload"
)

// startSource is the Redis a live import copies; it has the password the
// RedisFailover takes over.
func startSource(t *testing.T, password string) *redistest.Server {
	t.Helper()
	src, err := redistest.StartServer(redistest.ServerConfig{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// waitImportLinkUp waits until the manager reports the import in sync.
func waitImportLinkUp(t *testing.T, m *Manager) {
	t.Helper()
	redistest.WaitFor(t, 60*time.Second, "the import is in sync with the source", func(context.Context) error {
		b := m.Status().Bootstrap
		if b == nil || b.Import == nil || !b.Import.LinkUp || b.Import.LagBytes < 0 {
			return fmt.Errorf("bootstrap %+v", b)
		}
		return nil
	})
}

// TestLiveImportCutoverKeepsEveryWrite: the initial primary replicates
// from a source Redis while a load writes to the source; the cutover holds the source's writes, catches up and promotes
// it: every write the source acknowledged is on the new primary, and a
// restart never replicates from the source again.
func TestLiveImportCutoverKeepsEveryWrite(t *testing.T) {
	src := startSource(t, testPassword)
	ctx := context.Background()
	sc := src.Client()
	defer sc.Close()
	data := redistest.Dataset{Prefix: "before", N: 200}
	if err := data.Write(ctx, sc); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.cfg.Bootstrap = &instanceconfig.Bootstrap{Instance: "app-1", Source: "redis://" + src.Addr(),
		FromRedis: &instanceconfig.LiveSource{Addr: src.Addr()}}
	tm := c.start("app-1")
	api := &instanceapi.Client{BaseURL: "http://" + tm.m.HTTPAddr(), Token: testToken}
	waitImportLinkUp(t, tm.m)
	redistest.WaitFor(t, 30*time.Second, "app-1 holds the source's data", func(ctx context.Context) error {
		return data.Compare(ctx, sc, c.client("app-1"))
	})
	if role := getStatus(t, tm.m).Role; role != "replica" {
		t.Fatalf("app-1 runs as %q during the import, want replica", role)
	}

	load := writeload.Start(ctx, sc, writeload.Options{Prefix: "live", MaxDuration: 2 * time.Minute})
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := load.WaitAcked(lctx, 200); err != nil {
		t.Fatal(err)
	}
	res, err := api.Cutover(ctx)
	if err != nil {
		t.Fatalf("cutover: %v", err)
	}
	// The source's writes stay held after the cutover: the load's write in
	// flight is not acknowledged, every acknowledged one predates it.
	rep := load.Stop()
	t.Logf("cutover at offset %d after holding the source's writes %d ms; load: %s", res.Offset, res.WritesHeldMilliseconds, rep.Summary())
	waitRole(t, tm.m, "primary", 10*time.Second)
	lost, err := rep.Lost(ctx, c.client("app-1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged writes to the source are not on the new primary, first %s", len(lost), lost[0])
	}
	if len(rep.Acked) < 200 {
		t.Fatalf("only %d writes acknowledged", len(rep.Acked))
	}
	b := tm.m.Status().Bootstrap
	if b == nil || b.Phase != instanceapi.BootstrapImported || b.Import == nil || b.Import.CutoverAt.IsZero() {
		t.Fatalf("bootstrap after the cutover %+v", b)
	}
	if err := c.client("app-1").Set(ctx, "after-cutover", "1", 0).Err(); err != nil {
		t.Fatalf("the new primary refuses a write: %v", err)
	}
	// Asked again (an answer lost on the way), it says the same.
	if again, err := api.Cutover(ctx); err != nil || again.Offset != res.Offset {
		t.Fatalf("a second cutover: %+v, %v; want offset %d", again, err, res.Offset)
	}
	// The source's writes stay held until the operator releases them.
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = sc.Set(wctx, "held", "1", 0).Err()
	wcancel()
	if err == nil {
		t.Fatal("the source took a write after the cutover, before the release")
	}
	if err := api.ReleaseCutover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sc.Set(ctx, "after-release", "1", 0).Err(); err != nil {
		t.Fatalf("the source still holds writes after the release: %v", err)
	}

	// A restart with instance.json unchanged (the operator has not
	// removed the bootstrap yet): the record on the volume wins.
	marker, err := os.ReadFile(filepath.Join(stateDir(tm.dataDir), bootstrapMarker))
	if err != nil || !strings.Contains(string(marker), "imported from "+src.Addr()) {
		t.Fatalf("the record of the import's end: %q, %v", marker, err)
	}
	tm.stop(t)
	tm = c.start("app-1")
	waitRole(t, tm.m, "primary", 30*time.Second)
	if err := c.client("app-1").Get(ctx, "after-cutover").Err(); err != nil {
		t.Fatalf("the write after the cutover is gone after a restart: %v", err)
	}
	if b := tm.m.Status().Bootstrap; b == nil || b.Phase != instanceapi.BootstrapImported || b.Import == nil || b.Import.Offset != res.Offset {
		t.Fatalf("the restarted manager does not report the cutover: %+v", b)
	}
}

// TestLiveImportSaysWhyItDoesNotProgress: a source that refuses the
// RedisFailover's password is reported in its own words, a cutover is
// refused, and the server stays a replica that nothing writes to.
func TestLiveImportSaysWhyItDoesNotProgress(t *testing.T) {
	src := startSource(t, "another-password")
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.cfg.Bootstrap = &instanceconfig.Bootstrap{Instance: "app-1", Source: "redis://" + src.Addr(),
		FromRedis: &instanceconfig.LiveSource{Addr: src.Addr()}}
	tm := c.start("app-1")
	api := &instanceapi.Client{BaseURL: "http://" + tm.m.HTTPAddr(), Token: testToken}
	redistest.WaitFor(t, 30*time.Second, "the import reports the refused password", func(context.Context) error {
		b := tm.m.Status().Bootstrap
		if b == nil || b.Import == nil || !strings.Contains(b.Import.Problem, "cannot ask the source") {
			return fmt.Errorf("bootstrap %+v", b)
		}
		if b.Import.LinkUp {
			return errors.New("link up with a wrong password")
		}
		return nil
	})
	if _, err := api.Cutover(context.Background()); instanceapi.StatusCode(err) != 409 || !strings.Contains(err.Error(), "not in sync") {
		t.Fatalf("a cutover while not in sync: %v, want 409 not in sync", err)
	}
	if role := getStatus(t, tm.m).Role; role == "primary" {
		t.Fatal("the importing instance became a primary")
	}
}
