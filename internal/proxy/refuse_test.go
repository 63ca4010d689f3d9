package proxy

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestAdministrativeCommandsRefused: commands that would act behind
// Sentinel and the operator get NOPERM from the proxy and never reach the
// primary; the connection goes on, and the commands' harmless relatives
// (CONFIG GET, CLIENT SETNAME) are forwarded.
func TestAdministrativeCommandsRefused(t *testing.T) {
	r := startServer(t)
	s, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.PoolSize = 1 })
	direct := r.Client()
	defer direct.Close()
	before, err := direct.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		t.Fatal(err)
	}
	refused := [][]any{
		{"REPLICAOF", "127.0.0.1", "1"}, {"slaveof", "127.0.0.1", "1"}, {"FAILOVER"}, {"SHUTDOWN", "NOSAVE"},
		{"DEBUG", "SLEEP", "0"}, {"ACL", "SETUSER", "eve", "on", ">pw", "+@all"}, {"MODULE", "LIST"}, {"SYNC"}, {"PSYNC", "?", "-1"},
		{"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}, {"config", "rewrite"}, {"CONFIG", "RESETSTAT"},
		{"CLIENT", "KILL", "TYPE", "normal"}, {"CLIENT", "PAUSE", "10000"}, {"CLIENT", "UNPAUSE"},
	}
	for _, cmd := range refused {
		err := c.Do(ctx, cmd...).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "NOPERM the haredis proxy does not forward") {
			t.Errorf("%v: %v, want NOPERM from the proxy", cmd, err)
		}
	}
	if got := s.m.refused.Load(); got != uint64(len(refused)) {
		t.Errorf("refused counter %d, want %d", got, len(refused))
	}
	if role, err := direct.Do(ctx, "ROLE").Slice(); err != nil || role[0] != "master" {
		t.Errorf("the primary's role after the refusals: %v %v", role, err)
	}
	if after, err := direct.ConfigGet(ctx, "maxmemory-policy").Result(); err != nil || after["maxmemory-policy"] != before["maxmemory-policy"] {
		t.Errorf("maxmemory-policy %v, was %v (%v)", after, before, err)
	}
	if n, err := direct.ACLList(ctx).Result(); err != nil || len(n) != 1 {
		t.Errorf("ACL users on the primary: %v %v", n, err)
	}
	// The connection goes on; the harmless relatives are forwarded.
	if v, err := c.ConfigGet(ctx, "maxmemory-policy").Result(); err != nil || v["maxmemory-policy"] != before["maxmemory-policy"] {
		t.Errorf("CONFIG GET through the proxy: %v %v", v, err)
	}
	if err := c.Do(ctx, "CLIENT", "SETNAME", "app").Err(); err != nil {
		t.Errorf("CLIENT SETNAME: %v", err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("SET after the refusals: %v", err)
	}
}

// TestRefusalInsideMultiRunsNothing: a refused command inside a
// transaction closes the connection, so that the commands queued before it
// never run (Redis would abort the transaction at EXEC).
func TestRefusalInsideMultiRunsNothing(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.PoolSize = 1 })
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "queued", "1", 0)
		p.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru")
		p.Set(ctx, "queued-after", "1", 0)
		return nil
	})
	if err == nil {
		t.Fatal("a transaction with CONFIG SET succeeded through the proxy")
	}
	direct := r.Client()
	defer direct.Close()
	if n, err := direct.Exists(ctx, "queued", "queued-after").Result(); err != nil || n != 0 {
		t.Errorf("%d keys of the refused transaction on the primary (%v)", n, err)
	}
	if p := direct.ConfigGet(ctx, "maxmemory-policy").Val()["maxmemory-policy"]; p == "allkeys-lru" {
		t.Error("CONFIG SET inside MULTI reached the primary")
	}
	// A new connection works.
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("SET on a new connection: %v", err)
	}
}
