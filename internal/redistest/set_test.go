package redistest

import (
	"context"
	"testing"
	"time"
)

func TestSetFailsOverAfterPrimaryKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: starts six processes and waits for a failover")
	}
	s := NewSet(t, SetConfig{Password: "pw", Replicas: 2, Sentinels: 3})
	ctx := context.Background()
	old, err := s.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old != s.Servers[0].Addr() {
		t.Fatalf("master %s, want %s", old, s.Servers[0].Addr())
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

func TestServerKillAndRestart(t *testing.T) {
	s, err := StartServer(ServerConfig{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if role, err := s.Role(ctx); err != nil || role != "master" {
		t.Fatalf("role %q, %v", role, err)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("still running after Kill")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if role, err := s.Role(ctx); err != nil || role != "master" {
		t.Fatalf("after restart: role %q, %v", role, err)
	}
}
