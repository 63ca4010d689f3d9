package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/supervise"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/redistest"
)

// TestInstanceRunBinary runs the built binary as a subreaper, the way it runs
// as PID 1: it must boot a single instance, report it ready, and on SIGTERM
// shut redis-server down cleanly and exit 0. With TLS (instance.json's tls
// and --tls-dir) the instance serves clients that know the CA.
func TestInstanceRunBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "haredis")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("plain", func(t *testing.T) { testInstanceRunBinary(t, bin, nil) })
	t.Run("tls", func(t *testing.T) { testInstanceRunBinary(t, bin, certstest.New(t)) })
}

func testInstanceRunBinary(t *testing.T, bin string, tlsDir *certstest.Dir) {
	dir := t.TempDir()
	redisPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{"clusterName":"app","masterName":"ns-app-1","instances":["app-1"],
		"hosts":{"app-1":"127.0.0.1:%d"},"persistence":"RDB","authEnabled":true,"initialPrimary":"app-1",
		"config":{"notify-keyspace-events":"gxE"},"tls":%t}`, redisPort, tlsDir != nil)
	const token = "test-manager-token"
	for name, content := range map[string]string{"instance.json": conf, "password": testPassword + "\n", "token": token + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "instance", "run", "--subreaper", "--config", filepath.Join(dir, "instance.json"),
		"--password-file", filepath.Join(dir, "password"), "--token-file", filepath.Join(dir, "token"), "--data-dir", filepath.Join(dir, "data"),
		"--run-dir", filepath.Join(dir, "run"), "--bind", "127.0.0.1",
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--metrics-listen", "127.0.0.1:0", "--redis-port", fmt.Sprint(redisPort))
	if tlsDir != nil {
		cmd.Args = append(cmd.Args, "--tls-dir", tlsDir.Path)
	}
	cmd.Env = append(os.Environ(), "POD_NAME=app-1", "POD_NAMESPACE=ns")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := supervise.StartTied(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	}()

	client := &instanceapi.Client{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Token: token}
	var status *instanceapi.Status
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = redistest.Wait(ctx, 50*time.Millisecond, func() error {
		s, err := client.Status(ctx)
		if err != nil {
			return err
		}
		status = s
		if !s.Ready || s.Role != "primary" {
			return fmt.Errorf("role %q ready %v (%s)", s.Role, s.Ready, s.ReadyReason)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	anonymous := &instanceapi.Client{BaseURL: client.BaseURL}
	if _, err := anonymous.Status(ctx); instanceapi.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("a status request without the manager token got %v, want 401", err)
	}
	if tlsDir != nil {
		checkTLSOnly(t, redisPort, tlsDir)
	}
	if ppid := parentOf(t, status.RedisPID); ppid != cmd.Process.Pid {
		t.Errorf("redis-server's parent is %d, want the manager %d", ppid, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the manager exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the manager did not exit within 40s of SIGTERM")
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", status.RedisPID)); !os.IsNotExist(err) {
		t.Errorf("redis-server %d is still there after the manager exited", status.RedisPID)
	}
	if !strings.Contains(out.String(), `"msg":"redis-server stopped"`) || !strings.Contains(out.String(), `exit code 0`) {
		t.Errorf("no clean shutdown of redis-server in the output")
	}
	if strings.Contains(out.String(), testPassword) {
		t.Errorf("the password appears in the output")
	}
	// RDB persistence: a clean shutdown saved the data set.
	if _, err := os.Stat(filepath.Join(dir, "data", "dump.rdb")); err != nil {
		t.Errorf("no dump.rdb after a clean shutdown with RDB persistence: %v", err)
	}
}

const testPassword = "Zq9-never-logged-4711"

func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...; comm may hold spaces, so cut at the last ')'.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	var ppid int
	_, _ = fmt.Sscan(fields[1], &ppid)
	return ppid
}

// checkTLSOnly checks that the instance serves a client that knows the CA
// and refuses a plaintext one.
func checkTLSOnly(t *testing.T, port int, d *certstest.Dir) {
	t.Helper()
	conf, err := certs.ClientConfig(d.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, c := range map[string]*tls.Config{"a TLS client with the CA": conf, "a plaintext client": nil} {
		rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: testPassword, TLSConfig: c,
			MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second, Protocol: 2, DisableIdentity: true})
		err := rc.Ping(ctx).Err()
		rc.Close()
		if (err == nil) != (c != nil) {
			t.Errorf("%s: PING answered %v", name, err)
		}
	}
}
