package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/supervise"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinelrun"
)

// TestSentinelRunKeepsVotesAcrossContainerRestarts runs the built binary's
// `sentinel run` twice on one run directory, as a sentinel container that
// restarts in its pod: a vote cast by the first run is remembered by the
// second, which refuses to vote again in that epoch.
func TestSentinelRunKeepsVotesAcrossContainerRestarts(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "haredis")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	primary, err := redistest.StartServer(redistest.ServerConfig{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	port := redistest.StablePort(t)
	self := fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf(`{"clusterName":"app","masterName":"ns.app.run","instances":["app-1"],
		"hosts":{"app-1":%q},"sentinels":[%q],"sentinelPods":["app-sentinel-1"],"sentinelAuthEnabled":true,
		"persistence":"AOF","authEnabled":true,"initialPrimary":"app-1"}`, primary.Addr(), self)
	for name, content := range map[string]string{"instance.json": conf, "password": testPassword + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: self, Password: testPassword, MaxRetries: -1, DialTimeout: time.Second})
	defer sc.Close()
	run := func() (stop func()) {
		var out bytes.Buffer
		cmd := exec.Command(bin, "sentinel", "run", "--config", filepath.Join(dir, "instance.json"),
			"--password-file", filepath.Join(dir, "password"), "--run-dir", runDir, "--pod-name", "app-sentinel-1",
			"--announce-hostname", "127.0.0.1", "--port", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := supervise.StartTied(cmd); err != nil {
			t.Fatal(err)
		}
		if err := redistest.Wait(ctx, 50*time.Millisecond, func() error { return sc.Ping(ctx).Err() }); err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("the sentinel does not answer: %v\n%s", err, out.String())
		}
		return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	}
	vote := func(epoch int, candidate string) string {
		host, p, _ := strings.Cut(primary.Addr(), ":")
		cmd := redis.NewSliceCmd(ctx, "SENTINEL", "IS-MASTER-DOWN-BY-ADDR", host, p, strconv.Itoa(epoch), candidate)
		if err := sc.Process(ctx, cmd); err != nil {
			t.Fatal(err)
		}
		leader, _ := cmd.Val()[1].(string)
		return leader
	}

	stop := run()
	a, b := sentinelrun.MyID("ns.app.run", "app-sentinel-2"), sentinelrun.MyID("ns.app.run", "app-sentinel-3")
	if got := vote(3, a); got != a {
		t.Fatalf("first vote went to %q, want %s", got, a)
	}
	stop()
	stop = run()
	defer stop()
	if got := vote(3, b); got == b {
		t.Errorf("the restarted sentinel voted twice in epoch 3")
	}
	if b, err := os.ReadFile(filepath.Join(runDir, "sentinel.conf")); err != nil || !strings.Contains(string(b), "sentinel current-epoch 3") {
		t.Errorf("sentinel.conf after the restart lacks the current epoch (%v):\n%s", err, b)
	}
}

// TestSentinelRunWithTLS runs the built binary's `sentinel run` on an
// instance.json with TLS and the certificates in --tls-dir: the sentinel
// answers over TLS only, and a SIGTERM to the runner, as the kubelet sends
// to the container, stops redis-sentinel and ends the runner cleanly.
func TestSentinelRunWithTLS(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "haredis")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	d := certstest.New(t)
	port := redistest.StablePort(t)
	self := fmt.Sprintf("127.0.0.1:%d", port)
	// The primary is not running: the sentinel starts and serves anyway.
	conf := fmt.Sprintf(`{"clusterName":"app","masterName":"ns.app.tls","instances":["app-1"],
		"hosts":{"app-1":"127.0.0.1:1"},"sentinels":[%q],"sentinelPods":["app-sentinel-1"],"sentinelAuthEnabled":true,
		"persistence":"None","authEnabled":true,"initialPrimary":"app-1","tls":true}`, self)
	for name, content := range map[string]string{"instance.json": conf, "password": testPassword + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "sentinel", "run", "--config", filepath.Join(dir, "instance.json"),
		"--password-file", filepath.Join(dir, "password"), "--run-dir", runDir, "--pod-name", "app-sentinel-1",
		"--announce-hostname", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "HAREDIS_TLS_DIR="+d.Path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := supervise.StartTied(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	sc := redis.NewSentinelClient(&redis.Options{Addr: self, Password: testPassword, TLSConfig: d.Files().ClientConfig(), MaxRetries: -1, DialTimeout: time.Second})
	defer sc.Close()
	redistest.WaitFor(t, 30*time.Second, "the sentinel to answer over TLS", func(ctx context.Context) error {
		return sc.Ping(ctx).Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plain := redis.NewSentinelClient(&redis.Options{Addr: self, Password: testPassword, MaxRetries: -1, DialTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Error("the sentinel answered a plaintext client")
	}
	if b, err := os.ReadFile(filepath.Join(runDir, "sentinel.conf")); err != nil || !strings.Contains(string(b), "tls-cert-file "+filepath.Join(d.Path, "tls.crt")) {
		t.Errorf("sentinel.conf does not read the certificate in --tls-dir (%v):\n%s", err, b)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the runner exited with %v on SIGTERM:\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("the runner did not exit on SIGTERM:\n%s", out.String())
	}
	// redis-sentinel went with it.
	if c, err := net.DialTimeout("tcp", self, time.Second); err == nil {
		c.Close()
		t.Errorf("something still listens on %s after the runner exited", self)
	}
}
