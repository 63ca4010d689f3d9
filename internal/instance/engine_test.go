package instance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/redistest"
)

// waitRefused waits until the manager refused its server, and checks that
// nothing runs and the pod is not ready.
func waitRefused(t *testing.T, m *Manager) instanceapi.Status {
	t.Helper()
	var s instanceapi.Status
	redistest.WaitFor(t, 10*time.Second, "the server refused", func(context.Context) error {
		s = getStatus(t, m)
		if s.Phase != instanceapi.PhaseRefused {
			return fmt.Errorf("phase %s", s.Phase)
		}
		return nil
	})
	if s.RedisPID != 0 || s.RedisUp || s.Ready || !strings.HasPrefix(s.ReadyReason, "not started: ") {
		t.Errorf("refused, yet pid %d, up %v, ready %v (%s)", s.RedisPID, s.RedisUp, s.Ready, s.ReadyReason)
	}
	return s
}

// TestRefusesAnUnsupportedServer runs an image whose server is Redis 6.2
// (a stand-in that answers --version as Redis 6.2 does): the manager does
// not start it and says why, naming the field and the supported range.
func TestRefusesAnUnsupportedServer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "redis-server")
	script := "#!/bin/sh\necho 'Redis server v=6.2.14 sha=00000000:0 malloc=jemalloc-5.2.1 bits=64 build=1'\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.server = bin
	s := waitRefused(t, c.start("app-1").m)
	for _, want := range []string{"redis 6.2.14 is not supported", "Redis 7.0 and later, Valkey 7.2 and later", "spec.redis.image"} {
		if !strings.Contains(s.Refused, want) {
			t.Errorf("refusal %q does not say %q", s.Refused, want)
		}
	}
	if s.Engine != "redis" || s.EngineVersion != "6.2.14" {
		t.Errorf("engine %q %q, want redis 6.2.14 as the server said", s.Engine, s.EngineVersion)
	}
}

// TestRefusesDataItCannotRead gives the real Redis 7.0 a volume whose dump
// was written in a newer RDB format (as Valkey 9 writes it): the manager
// does not start the server, which would fail to load it and, as a
// replica, replace it, and leaves the file as it was.
func TestRefusesDataItCannotRead(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(data, "dump.rdb")
	content := []byte("VALKEY080\xfe\x00\xff")
	if err := os.WriteFile(dump, content, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.dataDirs = map[string]string{"app-1": data}
	s := waitRefused(t, c.start("app-1").m)
	for _, want := range []string{"RDB format 80", "cannot read", "spec.redis.image", "untouched"} {
		if !strings.Contains(s.Refused, want) {
			t.Errorf("refusal %q does not say %q", s.Refused, want)
		}
	}
	if s.Engine != "redis" || !strings.HasPrefix(s.EngineVersion, "7.") {
		t.Errorf("engine %q %q, want the host's Redis 7", s.Engine, s.EngineVersion)
	}
	if got, err := os.ReadFile(dump); err != nil || string(got) != string(content) {
		t.Errorf("the unreadable dump changed: %q, %v", got, err)
	}
}
