package instance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/s3test"
)

// seedFile is an RDB file of data written into a throw-away redis-server,
// with the server that wrote it to compare against.
func seedFile(t *testing.T, data redistest.Dataset) ([]byte, *redistest.Server) {
	t.Helper()
	srv, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := srv.Client()
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := data.Write(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(srv.Dir(), "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	return b, srv
}

// offerSeed stores body in a real S3 server and returns its signed URL and
// SHA-256.
func offerSeed(t *testing.T, store *s3test.Server, key string, body []byte) (string, string) {
	t.Helper()
	ctx := context.Background()
	oc, err := objectstore.New(objectstore.Config{Endpoint: store.Endpoint, Bucket: store.Bucket, Region: s3test.Region,
		Credentials: objectstore.Credentials{AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	u, err := oc.PresignGet(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	return u, hex.EncodeToString(sum[:])
}

// putSeed hands the seed's URL to the manager of name, as the operator does.
func putSeed(t *testing.T, c *testCluster, name, url string) {
	t.Helper()
	api := &instanceapi.Client{BaseURL: "http://" + c.members[name].m.HTTPAddr(), Token: testToken}
	redistest.WaitFor(t, 10*time.Second, "PUT /seed to "+name, func(ctx context.Context) error {
		return api.PutSeed(ctx, url)
	})
}

// TestBootstrapLoadsTheSeedOnce: the initial primary of a new
// RedisFailover (AOF persistence) loads the seed before its first start and
// its replica syncs it; when the primary's volume is lost later, the seed
// is not loaded again over the data its peer holds.
func TestBootstrapLoadsTheSeedOnce(t *testing.T) {
	store := s3test.Run(t, s3test.Options{})
	data := redistest.Dataset{Prefix: "seed", N: 40}
	body, src := seedFile(t, data)
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, nil)
	url, sum := offerSeed(t, store, "seeds/dump.rdb", body)
	c.cfg.Bootstrap = &instanceconfig.Bootstrap{Instance: "app-1", Source: "the test seed", SHA256: sum}
	for _, n := range names {
		c.start(n)
	}
	redistest.WaitFor(t, 10*time.Second, "app-1 asks for the seed's URL", func(context.Context) error {
		if b := c.members["app-1"].m.Status().Bootstrap; b == nil || !b.WaitingForURL {
			return fmt.Errorf("bootstrap %+v", b)
		}
		return nil
	})
	putSeed(t, c, "app-1", url)
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	ctx := context.Background()
	srcClient := src.Client()
	defer srcClient.Close()
	for _, n := range names {
		redistest.WaitFor(t, 60*time.Second, n+" holds the seed", func(ctx context.Context) error {
			return data.Compare(ctx, srcClient, c.client(n))
		})
	}
	st := c.members["app-1"].m.Status()
	if b := st.Bootstrap; b == nil || b.Phase != instanceapi.BootstrapLoaded || b.SHA256 != sum || b.Bytes != int64(len(body)) || b.RDBVersion != 10 {
		t.Errorf("bootstrap status %+v", st.Bootstrap)
	}
	if st2 := c.members["app-2"].m.Status(); st2.Bootstrap != nil {
		t.Errorf("a replica reports a bootstrap: %+v", st2.Bootstrap)
	}
	// Writes after the seed, then the primary's volume is lost.
	if err := c.client("app-1").Set(ctx, "after-seed", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "app-2 has the write after the seed", func(ctx context.Context) error {
		return c.client("app-2").Get(ctx, "after-seed").Err()
	})
	old := c.members["app-1"]
	old.stop(t)
	if err := os.RemoveAll(old.dataDir); err != nil {
		t.Fatal(err)
	}
	m := c.start("app-1").m
	redistest.WaitFor(t, 30*time.Second, "app-1 skips the seed", func(context.Context) error {
		b := m.Status().Bootstrap
		if b == nil || b.Phase != instanceapi.BootstrapSkipped {
			return fmt.Errorf("bootstrap %+v", b)
		}
		if !strings.Contains(b.Error, "app-2 holds data") {
			return fmt.Errorf("skipped for %q", b.Error)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(old.dataDir, "dump.rdb")); err == nil {
		t.Error("the seed was put on the new volume")
	}
}

// TestBootstrapRefusesABadSeed: a seed whose checksum differs, or that is
// damaged, is not loaded and nothing starts in its place.
func TestBootstrapRefusesABadSeed(t *testing.T) {
	store := s3test.Run(t, s3test.Options{})
	body, _ := seedFile(t, redistest.Dataset{Prefix: "seed", N: 10})
	damaged := bytes.Clone(body)
	damaged[len(damaged)/2] ^= 0x20
	for _, tc := range []struct {
		name string
		body []byte
		sha  func(real string) string
		want string
	}{
		{"checksum", body, func(string) string { return strings.Repeat("0", 64) }, "not " + strings.Repeat("0", 64)},
		{"damaged", damaged, func(real string) string { return real }, "is damaged"},
		{"not-rdb", []byte("<html>an error page</html>"), func(string) string { return "" }, "is not an RDB file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, []string{"app-1"}, nil, nil)
			url, sum := offerSeed(t, store, "bad/"+tc.name, tc.body)
			c.cfg.Bootstrap = &instanceconfig.Bootstrap{Instance: "app-1", Source: "seed " + tc.name, SHA256: tc.sha(sum)}
			tm := c.start("app-1")
			putSeed(t, c, "app-1", url)
			redistest.WaitFor(t, 30*time.Second, "the seed refused", func(context.Context) error {
				s := tm.m.Status()
				if s.Bootstrap == nil || s.Bootstrap.Phase != instanceapi.BootstrapFailed || s.Phase != instanceapi.PhaseRefused {
					return fmt.Errorf("phase %s, bootstrap %+v", s.Phase, s.Bootstrap)
				}
				return nil
			})
			s := tm.m.Status()
			if !strings.Contains(s.Bootstrap.Error, tc.want) || s.Ready || !strings.Contains(s.ReadyReason, "seed cannot be loaded") || s.RedisUp {
				t.Errorf("error %q (want %q), ready %v %q, redis up %v", s.Bootstrap.Error, tc.want, s.Ready, s.ReadyReason, s.RedisUp)
			}
			entries, _ := os.ReadDir(tm.dataDir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "dump.rdb") {
					t.Errorf("%s left on the volume", e.Name())
				}
			}
		})
	}
}
