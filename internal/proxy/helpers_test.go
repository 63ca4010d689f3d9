package proxy

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

const testPassword = "pr0xy-pass"

// startProxy serves a proxy on a free loopback port until the test ends.
func startProxy(t testing.TB, primary string, mod func(*Config)) (*Server, string) {
	t.Helper()
	cfg := Config{Password: testPassword}
	if tt, ok := t.(*testing.T); ok {
		cfg.Log = testr.New(tt)
	}
	if mod != nil {
		mod(&cfg)
	}
	s := New(cfg)
	if primary != "" {
		s.SetPrimary(primary)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, l.Addr().String()
}

func startServer(t testing.TB) *redistest.Server {
	t.Helper()
	r, err := redistest.StartServer(redistest.ServerConfig{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func client(t testing.TB, addr string, mod func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr, Password: testPassword, MaxRetries: -1}
	if mod != nil {
		mod(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
