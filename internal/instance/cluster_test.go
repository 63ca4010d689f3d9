package instance

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/haredis/haredis/internal/acl"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
)

const (
	testPassword = "test-pw-1"
	testToken    = "test-manager-token"
)

// testCluster runs one in-process Manager per instance, each with its own
// real redis-server on a free loopback port and its own data dir.
type testCluster struct {
	t       *testing.T
	cfg     *instanceconfig.Config
	ports   map[string]int
	members map[string]*testMember
	pwFile  string
	// internalDir holds the internal users' passwords (useACLUsers).
	internalDir string
	// tokenFile holds the manager token every member requires.
	tokenFile string
	httpPorts map[string]int
	// server is the server binary the members run (found in PATH when
	// empty); dataDirs the volumes prepared for members before their
	// first start.
	server   string
	dataDirs map[string]string
	// tls is the certificate directory of useTLS; nil without TLS.
	tls *certstest.Dir
}

type testMember struct {
	m       *Manager
	cancel  context.CancelFunc
	done    chan struct{}
	dataDir string
}

func newTestCluster(t *testing.T, names []string, sentinels []string, group map[string]string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, ports: map[string]int{}, httpPorts: map[string]int{}, members: map[string]*testMember{}}
	hosts, managers := map[string]string{}, map[string]string{}
	for _, n := range names {
		c.ports[n] = redistest.StablePort(t)
		hosts[n] = fmt.Sprintf("127.0.0.1:%d", c.ports[n])
		c.httpPorts[n] = redistest.StablePort(t)
		managers[n] = fmt.Sprintf("127.0.0.1:%d", c.httpPorts[n])
	}
	c.cfg = &instanceconfig.Config{
		ClusterName: "app", MasterName: "test-" + filepath.Base(t.TempDir()), Instances: names, Hosts: hosts, Managers: managers,
		Sentinels: sentinels, SentinelAuthEnabled: false, Persistence: instanceconfig.PersistenceAOF,
		Config: group, AuthEnabled: true, InitialPrimary: names[0],
		MinReplicasToWrite: 0, MinReplicasMaxLagSeconds: 10,
	}
	if err := c.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c.pwFile = filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(c.pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.tokenFile = filepath.Join(t.TempDir(), "manager-token")
	if err := os.WriteFile(c.tokenFile, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *testCluster) start(name string) *testMember {
	c.t.Helper()
	dataDir := filepath.Join(c.t.TempDir(), "data")
	if d, ok := c.dataDirs[name]; ok {
		dataDir = d
	}
	if old, ok := c.members[name]; ok {
		dataDir = old.dataDir
	}
	out, err := os.Create(filepath.Join(c.t.TempDir(), "redis.log"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if c.t.Failed() {
			b, _ := os.ReadFile(out.Name())
			c.t.Logf("redis-server log of %s:\n%s", name, lastLines(string(b), 40))
		}
		out.Close()
	})
	log := slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m, err := New(Options{
		Config: c.cfg, Self: name, PasswordFile: c.pwFile, InternalPasswordsDir: c.internalDir, TokenFile: c.tokenFile, DataDir: dataDir,
		RunDir: filepath.Join(c.t.TempDir(), "run"), RedisPort: c.ports[name], Bind: []string{"127.0.0.1"},
		HTTPListen: fmt.Sprintf("127.0.0.1:%d", c.httpPorts[name]), MetricsListen: "127.0.0.1:0", BootWait: 5 * time.Second, DecideInterval: 200 * time.Millisecond,
		StopTimeout: 10 * time.Second, Log: log, RedisOutput: out, RedisServer: c.server,
		TLSDir: c.tlsDir(), CertCheckInterval: 100 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm := &testMember{m: m, cancel: cancel, done: make(chan struct{}), dataDir: dataDir}
	go func() {
		defer close(tm.done)
		if err := m.Run(ctx); err != nil {
			c.t.Errorf("%s: Run: %v", name, err)
		}
	}()
	c.members[name] = tm
	c.t.Cleanup(func() { tm.stop(c.t) })
	redistest.WaitFor(c.t, 10*time.Second, name+" serves HTTP", func(context.Context) error {
		if m.HTTPAddr() == "" {
			return fmt.Errorf("no HTTP address yet")
		}
		return nil
	})
	return tm
}

func (tm *testMember) stop(t *testing.T) {
	tm.cancel()
	select {
	case <-tm.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the manager did not stop within 30s")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter sends logs to t.Log, so they show only for failed tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (c *testCluster) client(name string) *redis.Client {
	cl := redis.NewClient(&redis.Options{Addr: c.cfg.Hosts[name], Password: testPassword, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, Protocol: 2, DisableIdentity: true, TLSConfig: c.clientTLS()})
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func getStatus(t *testing.T, m *Manager) instanceapi.Status {
	t.Helper()
	var s instanceapi.Status
	httpJSON(t, http.MethodGet, m, "/status", nil, &s)
	return s
}

func httpJSON(t *testing.T, method string, m *Manager, path string, body, out interface{}) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+m.HTTPAddr()+path, r)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: cannot parse %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func getText(t *testing.T, m *Manager, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+m.HTTPAddr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitRole(t *testing.T, m *Manager, role string, timeout time.Duration) instanceapi.Status {
	t.Helper()
	var s instanceapi.Status
	redistest.WaitFor(t, timeout, m.opts.Self+" is "+role, func(context.Context) error {
		s = m.Status()
		if s.Role != role || !s.Ready {
			return fmt.Errorf("role %s ready %v (%s), phase %s", s.Role, s.Ready, s.ReadyReason, s.Phase)
		}
		return nil
	})
	return s
}

// testInternal are the internal users' passwords of useACLUsers.
var testInternal = acl.Passwords{Admin: "admin-pw", Replication: "replication-pw", Sentinel: "sentinel-pw"}

// useACLUsers turns ACL users on, as the operator does with auth on: the
// members set up the application and internal users, and replicas
// authenticate as the replication user.
func (c *testCluster) useACLUsers() {
	c.t.Helper()
	c.cfg.ACLUsers = true
	c.internalDir = c.t.TempDir()
	for key, pw := range map[string]string{acl.AdminPasswordKey: testInternal.Admin, acl.ReplicationPasswordKey: testInternal.Replication, acl.SentinelPasswordKey: testInternal.Sentinel} {
		if err := os.WriteFile(filepath.Join(c.internalDir, key), []byte(pw+"\n"), 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
}

// adminClient connects to a member as the admin user.
func (c *testCluster) adminClient(name string) *redis.Client {
	cl := redis.NewClient(&redis.Options{Addr: c.cfg.Hosts[name], Username: acl.AdminUser, Password: testInternal.Admin, MaxRetries: -1,
		Protocol: 2, DisableIdentity: true, TLSConfig: c.clientTLS()})
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// useTLS turns TLS on, as the operator does with spec.tls: the members
// speak TLS only, with a certificate of a test CA for 127.0.0.1.
func (c *testCluster) useTLS() {
	c.t.Helper()
	c.cfg.TLS = true
	c.tls = certstest.New(c.t)
}

func (c *testCluster) tlsDir() string {
	if c.tls == nil {
		return ""
	}
	return c.tls.Path
}

// clientTLS is the TLS configuration of a client of the members (one that
// knows the CA); nil without TLS.
func (c *testCluster) clientTLS() *tls.Config {
	if c.tls == nil {
		return nil
	}
	conf, err := certs.ClientConfig(c.tls.CAPEM)
	if err != nil {
		c.t.Fatal(err)
	}
	return conf
}
