package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// addWorker declares the user "worker" on a server, allowed the keys
// queue:* only.
func addWorker(t *testing.T, r *redistest.Server) {
	t.Helper()
	c := r.Client()
	defer c.Close()
	if err := c.Do(ctxT(t), "ACL", "SETUSER", "worker", "reset", "on", ">w0rker", "~queue:*", "+@all", "-@dangerous").Err(); err != nil {
		t.Fatal(err)
	}
}

// Users other than the application user authenticate at the primary: the
// proxy forwards their AUTH, keeps them across a primary change, and a
// refused AUTH never leaves later commands running as the application
// user the proxy's upstream connection starts as.
func TestOtherUsersAuthenticateAtThePrimary(t *testing.T) {
	a, b := startServer(t), startServer(t)
	addWorker(t, a)
	addWorker(t, b)
	s, addr := startProxy(t, a.Addr(), nil)
	ctx := ctxT(t)

	for name, proto := range map[string]int{"HELLO 3 AUTH": 3, "AUTH on RESP2": 2} {
		t.Run(name, func(t *testing.T) {
			w := client(t, addr, func(o *redis.Options) { o.Username, o.Password, o.Protocol = "worker", "w0rker", proto })
			if err := w.Set(ctx, "queue:1", "job", 0).Err(); err != nil {
				t.Fatalf("SET queue:1 as worker: %v", err)
			}
			if err := w.Set(ctx, "other", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("SET other as worker: %v, want NOPERM from the primary", err)
			}
		})
	}

	wrong := client(t, addr, func(o *redis.Options) { o.Username, o.Password = "worker", "nope" })
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("PING as worker with a wrong password: %v, want WRONGPASS", err)
	}

	// Pipelined after a refused AUTH, a command is what Redis would make of
	// it: refused when unauthenticated, the previous user's otherwise.
	for _, tc := range []struct {
		name string
		cmds []string
		want string
	}{
		{"unauthenticated", []string{"AUTH worker nope", "SET other 1"}, "-WRONGPASS|-NOAUTH"},
		{"as worker", []string{"AUTH worker w0rker", "AUTH worker nope", "SET other 1"}, "+OK|-WRONGPASS|-NOPERM"},
		{"as the application user", []string{"AUTH " + testPassword, "AUTH worker nope", "SET other 1"}, "+OK|-WRONGPASS|+OK"},
		{"back to the application user", []string{"AUTH worker w0rker", "AUTH " + testPassword, "SET other 2"}, "+OK|+OK|+OK"},
		{"internal users", []string{"AUTH haredis-admin whatever", "PING"}, "-NOPERM|-NOAUTH"},
		{"RESET", []string{"AUTH worker w0rker", "RESET", "SET queue:2 x"}, "+OK|+RESET|-NOAUTH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dialRaw(t, addr).do(t, tc.cmds...)
			var kinds []string
			for _, l := range got {
				kinds = append(kinds, strings.Fields(l)[0])
			}
			if strings.Join(kinds, "|") != tc.want {
				t.Fatalf("%q got %q, want %s", tc.cmds, got, tc.want)
			}
		})
	}

	// A primary change: the idle worker session moves as worker.
	moved := client(t, addr, func(o *redis.Options) { o.Username, o.Password, o.PoolSize = "worker", "w0rker", 1 })
	if err := moved.Set(ctx, "queue:a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.SetPrimary(b.Addr())
	redistest.WaitFor(t, 10*time.Second, "the worker session to reach the new primary", func(ctx2 context.Context) error {
		if err := moved.Set(ctx2, "queue:b", "1", 0).Err(); err != nil {
			return err
		}
		direct := b.Client()
		defer direct.Close()
		if n := direct.Exists(ctx2, "queue:b").Val(); n != 1 {
			return fmt.Errorf("queue:b is not on the new primary")
		}
		return nil
	})
	if info := moved.Do(ctx, "CLIENT", "INFO").String(); !strings.Contains(info, "user=worker") {
		t.Errorf("CLIENT INFO on the new primary: %s, want user=worker", info)
	}
	if err := moved.Set(ctx, "other", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("SET other as worker on the new primary: %v, want NOPERM", err)
	}
}
