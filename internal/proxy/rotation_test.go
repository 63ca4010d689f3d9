package proxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// TestPasswordRotationWithoutRestart: a proxy run with password files
// follows a rotation of the password: the new one is accepted next to the
// previous one, also while the instance has not read the new one yet (the
// proxy authenticates to it with the previous one), clients connected
// before go on, new upstream connections authenticate with the new one,
// and the previous one is refused once its file is empty; the process
// never restarts.
func TestPasswordRotationWithoutRestart(t *testing.T) {
	const newPassword = "rotated-pw"
	primary := startServer(t)
	admin := primary.Client()
	defer admin.Close()
	ctx := ctxT(t)
	dir := t.TempDir()
	pwFile, prevFile := filepath.Join(dir, "password"), filepath.Join(dir, "previous-password")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(pwFile, testPassword+"\n")
	write(prevFile, "")
	ready := make(chan net.Addr, 1)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, RunOptions{
			Listen: "127.0.0.1:0", StaticPrimary: primary.Addr(),
			PasswordFile: pwFile, PreviousPasswordFile: prevFile, CredentialsReload: 50 * time.Millisecond,
			Proxy: Config{Password: testPassword, Log: testr.New(t)},
			Ready: func(c, _ net.Addr) { ready <- c },
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the proxy ended with %v", err)
		}
	})
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not start")
	}
	as := func(password string) *redis.Client {
		return client(t, addr, func(o *redis.Options) { o.Password = password })
	}
	before := as(testPassword)
	if err := before.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := as(newPassword).Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("the new password before the rotation: %v, want WRONGPASS", err)
	}

	// The proxy reads the new password before the instance does: clients,
	// which still have the previous one (the connection Secret switches
	// later), connect, and the proxy authenticates to the instance with
	// the previous one.
	if err := admin.Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
		t.Fatal(err)
	}
	write(prevFile, testPassword+"\n")
	write(pwFile, newPassword)
	// Once the proxy has read the files, each new upstream connection
	// tries the new password (the instance logs its refusal), then the
	// previous one: the client's command goes through.
	redistest.WaitFor(t, 10*time.Second, "a new client served while the instance refuses the new password", func(ctx context.Context) error {
		if err := as(testPassword).Set(ctx, "k", "old-before-the-instance", 0).Err(); err != nil {
			return fmt.Errorf("the previous password while the instance has not read the new one: %w", err)
		}
		n, err := admin.Do(ctx, "ACL", "LOG").Slice()
		if err != nil {
			return err
		}
		if len(n) == 0 {
			return fmt.Errorf("the instance has refused no password yet: the proxy has not read the new one")
		}
		return nil
	})
	// Then the instance takes both, as its manager sets them.
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "on", ">"+newPassword).Err(); err != nil {
		t.Fatal(err)
	}
	if err := as(newPassword).Set(ctx, "k", "new", 0).Err(); err != nil {
		t.Errorf("the new password once the instance takes both: %v", err)
	}
	if err := as(testPassword).Set(ctx, "k", "old", 0).Err(); err != nil {
		t.Errorf("the previous password during the rotation: %v", err)
	}
	if err := before.Set(ctx, "k", "still", 0).Err(); err != nil {
		t.Errorf("a client connected before the rotation: %v", err)
	}

	write(prevFile, "")
	redistest.WaitFor(t, 10*time.Second, "the previous password refused", func(ctx context.Context) error {
		if err := as(testPassword).Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			return fmt.Errorf("the previous password: %v, want WRONGPASS", err)
		}
		return nil
	})
	// The instance drops the previous password too: a new upstream
	// connection authenticates with the new one.
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "resetpass", ">"+newPassword).Err(); err != nil {
		t.Fatal(err)
	}
	fresh := as(newPassword)
	if err := fresh.Set(ctx, "k", "after", 0).Err(); err != nil {
		t.Errorf("a new client after the rotation: %v", err)
	}
	if err := before.Get(ctx, "k").Err(); err != nil {
		t.Errorf("the client connected before the rotation, after it: %v", err)
	}
}
