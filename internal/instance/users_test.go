package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/redistest"
)

// writeDeclared writes the declared users file as the kubelet does from
// Secret NAME-internal.
func writeDeclared(t *testing.T, c *testCluster, users ...acl.DeclaredUser) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.internalDir, acl.DeclaredUsersKey), acl.EncodeDeclared(users), 0o600); err != nil {
		t.Fatal(err)
	}
}

// userClient connects to a member as a declared user.
func userClient(t *testing.T, c *testCluster, name, user, password string) *redis.Client {
	cl := redis.NewClient(&redis.Options{Addr: c.cfg.Hosts[name], Username: user, Password: password, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Users the RedisFailover declares are set up live with their rules, keep
// working after redis-server restarts, change password and rules with the
// file, are reported and left as they were when Redis refuses their rules,
// and are deleted when no longer declared.
func TestDeclaredUsersFollowTheFile(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.useACLUsers()
	worker := acl.DeclaredUser{Name: "worker", Rules: "~queue:* +@all -@dangerous", PasswordHash: acl.Hash("w1")}
	writeDeclared(t, c, worker)
	tm := c.start("app-1")
	waitRole(t, tm.m, "primary", 30*time.Second)
	ctx := context.Background()

	// canWrite tells whether user (password) can SET key.
	canWrite := func(user, password, key string) error {
		return userClient(t, c, "app-1", user, password).Set(ctx, key, "x", 0).Err()
	}
	redistest.WaitFor(t, 20*time.Second, "the worker user to be set up", func(context.Context) error {
		return canWrite("worker", "w1", "queue:1")
	})
	if err := canWrite("worker", "w1", "other"); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("worker SET other: %v, want NOPERM (its keys are queue:*)", err)
	}
	checkApplicationUser(t, c, "app-1")

	// redis.conf has the accepted users: a restarted server knows the
	// worker at once.
	conf, err := os.ReadFile(filepath.Join(tm.m.opts.RunDir, "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), `user "worker"`) {
		t.Error("redis.conf of the first start has the worker, which the server had not accepted yet")
	}
	pid := tm.m.Status().RedisPID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "redis-server restarted", func(context.Context) error {
		if s := tm.m.Status(); s.RedisPID == pid || s.Role != "primary" || !s.Ready {
			return fmt.Errorf("pid %d role %s ready %v", s.RedisPID, s.Role, s.Ready)
		}
		return nil
	})
	if conf, err = os.ReadFile(filepath.Join(tm.m.opts.RunDir, "redis.conf")); err != nil || !strings.Contains(string(conf), `user "worker" "reset" "on" "#`+acl.Hash("w1")+`"`) {
		t.Errorf("redis.conf after the restart lacks the accepted worker (%v):\n%s", err, conf)
	}
	if strings.Contains(string(conf), "w1") && !strings.Contains(string(conf), acl.Hash("w1")) {
		t.Error("redis.conf holds the worker's password")
	}

	// A new password and rules, the previous password still accepted
	// (the grace period of a rotation), then no longer.
	worker.PasswordHash, worker.PreviousHash, worker.Rules = acl.Hash("w2"), acl.Hash("w1"), "~queue:* ~jobs:* +@all -@dangerous"
	writeDeclared(t, c, worker)
	redistest.WaitFor(t, 20*time.Second, "the worker's new password and rules", func(context.Context) error {
		return canWrite("worker", "w2", "jobs:1")
	})
	if err := canWrite("worker", "w1", "jobs:2"); err != nil {
		t.Errorf("the worker's previous password during the grace period: %v", err)
	}
	worker.PreviousHash = ""
	writeDeclared(t, c, worker)
	redistest.WaitFor(t, 20*time.Second, "the previous password refused", func(context.Context) error {
		if err := canWrite("worker", "w1", "queue:1"); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			return fmt.Errorf("the worker's previous password: %v, want WRONGPASS", err)
		}
		return nil
	})
	if err := canWrite("worker", "w2", "jobs:3"); err != nil {
		t.Errorf("the worker's password after the grace period: %v", err)
	}

	// Rules Redis refuses: reported, the worker keeps what it had, and a
	// user declared beside the refused one is set up all the same.
	writeDeclared(t, c, worker, acl.DeclaredUser{Name: "reader", Rules: "~* +notacommand", PasswordHash: acl.Hash("r")},
		acl.DeclaredUser{Name: "auditor", Rules: "~audit:* +@all", PasswordHash: acl.Hash("a")})
	redistest.WaitFor(t, 20*time.Second, "the refusal in the status", func(context.Context) error {
		if e := tm.m.Status().ACLError; !strings.Contains(e, "user reader") || !strings.Contains(e, "notacommand") {
			return fmt.Errorf("aclError %q", e)
		}
		return nil
	})
	if err := canWrite("worker", "w2", "jobs:2"); err != nil {
		t.Errorf("the worker after a refused user: %v", err)
	}
	if err := canWrite("auditor", "a", "audit:1"); err != nil {
		t.Errorf("a user declared beside a refused one: %v", err)
	}

	// No longer declared: deleted, its password refused.
	writeDeclared(t, c)
	redistest.WaitFor(t, 20*time.Second, "the worker to be deleted", func(context.Context) error {
		users, err := c.adminClient("app-1").Do(ctx, "ACL", "USERS").StringSlice()
		if err != nil {
			return err
		}
		if strings.Contains(" "+strings.Join(users, " ")+" ", " worker ") {
			return fmt.Errorf("users %v", users)
		}
		return nil
	})
	if err := canWrite("worker", "w2", "queue:2"); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("a deleted user: %v, want WRONGPASS", err)
	}
	if e := tm.m.Status().ACLError; e != "" {
		t.Errorf("aclError %q after the refused user was removed", e)
	}
}

// TestApplicationPasswordRotation: a new application password in the
// password file, with the previous one's hash in its file, is accepted
// next to the old one on every instance, live and after redis-server
// restarts, while replication and the managers' view of their peers go
// on; once the hash is gone, the old password is refused.
func TestApplicationPasswordRotation(t *testing.T) {
	names := []string{"app-1", "app-2"}
	c := newTestCluster(t, names, nil, nil)
	c.useACLUsers()
	for _, n := range names {
		c.start(n)
	}
	waitRole(t, c.members["app-1"].m, "primary", 60*time.Second)
	waitRole(t, c.members["app-2"].m, "replica", 60*time.Second)
	ctx := context.Background()
	ping := func(n, password string) error {
		return userClient(t, c, n, acl.ApplicationUser, password).Ping(ctx).Err()
	}
	keys := func(n string) int64 {
		k, err := c.adminClient(n).DBSize(ctx).Result()
		if err != nil {
			return -1
		}
		return k
	}
	writeFile := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const newPassword = "new-application-pw"
	prevFile := filepath.Join(c.internalDir, acl.PreviousPasswordHashKey)

	writeFile(prevFile, acl.Hash(testPassword)+"\n")
	writeFile(c.pwFile, newPassword+"\n")
	for _, n := range names {
		redistest.WaitFor(t, 20*time.Second, n+" accepts both passwords", func(context.Context) error {
			return errors.Join(ping(n, newPassword), ping(n, testPassword))
		})
	}
	// A restarted server accepts both at once (redis.conf), and the
	// replica goes on replicating.
	pid := c.members["app-2"].m.Status().RedisPID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 60*time.Second, "app-2's redis-server restarted as a replica", func(context.Context) error {
		if s := c.members["app-2"].m.Status(); s.RedisPID == pid || s.Role != "replica" || !s.Ready {
			return fmt.Errorf("pid %d role %s ready %v (%s)", s.RedisPID, s.Role, s.Ready, s.PromotableReason)
		}
		return nil
	})
	if err := errors.Join(ping("app-2", newPassword), ping("app-2", testPassword)); err != nil {
		t.Errorf("app-2 after its restart during the rotation: %v", err)
	}
	conf, err := os.ReadFile(filepath.Join(c.members["app-2"].m.opts.RunDir, "redis.conf"))
	if err != nil || strings.Contains(string(conf), testPassword) || strings.Contains(string(conf), newPassword) {
		t.Errorf("redis.conf holds a password in clear (%v)", err)
	}
	for i := range 10 {
		if err := userClient(t, c, "app-1", acl.ApplicationUser, newPassword).Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	redistest.WaitFor(t, 30*time.Second, "app-2 holds the writes made with the new password", func(context.Context) error {
		if k := keys("app-2"); k != 10 {
			return fmt.Errorf("%d keys", k)
		}
		return nil
	})

	// The end of the rotation: the previous password goes.
	writeFile(prevFile, "")
	for _, n := range names {
		redistest.WaitFor(t, 20*time.Second, n+" refuses the previous password", func(context.Context) error {
			if err := ping(n, testPassword); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
				return fmt.Errorf("the previous password: %v, want WRONGPASS", err)
			}
			return nil
		})
		if err := ping(n, newPassword); err != nil {
			t.Errorf("%s with the new password: %v", n, err)
		}
	}
	if s := c.members["app-2"].m.Status(); s.Role != "replica" || s.ACLError != "" {
		t.Errorf("app-2 after the rotation: role %s, users error %q", s.Role, s.ACLError)
	}
}
