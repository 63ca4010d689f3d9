package redistest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/engine"
)

// valkeyBinaries finds the Valkey the test bed runs: $HAREDIS_VALKEY_DIR,
// else bin/valkey-* of the repository (make setup-bed unpacks it there).
func valkeyBinaries(t *testing.T) engine.Binaries {
	t.Helper()
	dir := os.Getenv("HAREDIS_VALKEY_DIR")
	if dir == "" {
		dirs, _ := filepath.Glob(filepath.Join("..", "..", "bin", "valkey-*"))
		if len(dirs) == 0 {
			t.Skip("no Valkey: make setup-bed unpacks it into bin/, or set HAREDIS_VALKEY_DIR")
		}
		dir = dirs[len(dirs)-1]
	}
	bin := filepath.Join(dir, "usr", "bin")
	names := engine.BinariesOf(engine.Valkey)
	b := engine.Binaries{Server: filepath.Join(bin, names.Server), Sentinel: filepath.Join(bin, names.Sentinel)}
	if _, err := os.Stat(b.Server); err != nil {
		t.Skipf("no Valkey: %v", err)
	}
	return b
}

func TestValkeySetFailsOverAfterPrimaryKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: starts six processes and waits for a failover")
	}
	s := NewSet(t, SetConfig{Password: "pw", Replicas: 2, Sentinels: 3, Binaries: valkeyBinaries(t)})
	ctx := context.Background()
	for _, srv := range s.Servers {
		c := srv.Client()
		info, err := c.Info(ctx, "server").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info, "server_name:valkey") {
			t.Fatalf("%s does not run Valkey:\n%s", srv.Addr(), info)
		}
	}
	c := s.Sentinels[0].Client()
	info, err := c.Info(ctx, "server").Result()
	c.Close()
	if err != nil || !strings.Contains(info, "server_mode:sentinel") || !strings.Contains(info, "server_name:valkey") {
		t.Fatalf("sentinel %s is not a Valkey sentinel (%v):\n%s", s.Sentinels[0].Addr(), err, info)
	}
	old, err := s.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Servers[0].Kill()
	WaitFor(t, 30*time.Second, "the sentinels to name a new master", func(ctx context.Context) error {
		addr, err := s.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if addr == old {
			return context.DeadlineExceeded
		}
		role, err := s.Server(addr).Role(ctx)
		if err != nil {
			return err
		}
		if role != "master" {
			return context.DeadlineExceeded
		}
		return nil
	})
}
