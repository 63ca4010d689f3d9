package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/supervise"
)

// startTLSProcess runs binary (redis-server or redis-sentinel) with only a
// TLS port on loopback, serving d's certificate, not asking clients for
// one, and speaking TLS to the instances it replicates or watches. conf
// holds more config lines. It returns the address once the process answers
// PING over TLS, and kills it when the test ends.
func startTLSProcess(t *testing.T, binary string, d *certstest.Dir, conf ...string) (string, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	lines := append([]string{
		"port 0",
		"tls-port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"dir " + dir,
		"logfile " + filepath.Join(dir, "redis.log"),
		"tls-cert-file " + filepath.Join(d.Path, certs.CertKey),
		"tls-key-file " + filepath.Join(d.Path, certs.KeyKey),
		"tls-ca-cert-file " + filepath.Join(d.Path, certs.CAKey),
		"tls-auth-clients no",
		"tls-replication yes",
		"requirepass " + testPassword,
	}, conf...)
	path := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := supervise.StartTied(cmd); err != nil {
		t.Fatalf("cannot start %s: %v", binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr, Password: testPassword, TLSConfig: d.Files().ClientConfig(), MaxRetries: -1})
	defer c.Close()
	redistest.WaitFor(t, 15*time.Second, binary+" to answer PING over TLS", func(ctx context.Context) error {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("%s exited: %s", binary, b)
		default:
		}
		return c.Ping(ctx).Err()
	})
	return addr, cmd
}

// tlsProxy serves a proxy with TLS on both sides, with d's certificate, in
// front of primary.
func tlsProxy(t *testing.T, d *certstest.Dir, primary string, mod func(*Config)) (*Server, string) {
	t.Helper()
	f := d.Files()
	return startProxy(t, primary, func(c *Config) {
		c.TLS, c.UpstreamTLS = f.ServerConfig(), f.ClientConfig()
		if mod != nil {
			mod(c)
		}
	})
}

// clientTLS is what an application outside the RedisFailover has: the CA,
// and the host name it connects to.
func clientTLS(d *certstest.Dir) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func tlsClient(t *testing.T, d *certstest.Dir, addr string, mod func(*redis.Options)) *redis.Client {
	return client(t, addr, func(o *redis.Options) {
		o.TLSConfig = clientTLS(d)
		if mod != nil {
			mod(o)
		}
	})
}

// dialTLS opens a raw TLS session with the proxy.
func dialTLS(t *testing.T, d *certstest.Dir, addr string) *rawSession {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, clientTLS(d))
	if err != nil {
		t.Fatalf("TLS handshake with the proxy: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawSession{nc: nc, br: bufio.NewReader(nc)}
}

func waitActive(t *testing.T, s *Server, want int64) {
	t.Helper()
	redistest.WaitFor(t, 10*time.Second, fmt.Sprintf("%d active connections", want), func(context.Context) error {
		if n := s.m.active.Load(); n != want {
			return fmt.Errorf("%d active connections", n)
		}
		return nil
	})
}

// TestTLSOnBothSides: the proxy serves TLS clients and reaches a TLS
// redis-server; plaintext clients are refused; what the proxy does before
// AUTH, and AUTH itself, is as without TLS.
func TestTLSOnBothSides(t *testing.T) {
	d := certstest.New(t)
	addr, _ := startTLSProcess(t, "redis-server", d)
	s, paddr := tlsProxy(t, d, addr, nil)
	ctx := ctxT(t)
	c := tlsClient(t, d, paddr, nil)

	t.Run("commands", func(t *testing.T) {
		if err := c.Set(ctx, "tls:k", "v", 0).Err(); err != nil {
			t.Fatalf("SET through the proxy: %v", err)
		}
		if got, err := c.Get(ctx, "tls:k").Result(); err != nil || got != "v" {
			t.Fatalf("GET through the proxy = %q, %v", got, err)
		}
		// Larger than a TLS record and than the proxy's buffers, both ways.
		big := strings.Repeat("0123456789abcdef", 1<<16)
		if err := c.Set(ctx, "tls:big", big, 0).Err(); err != nil {
			t.Fatalf("SET 1 MiB: %v", err)
		}
		if got, err := c.Get(ctx, "tls:big").Result(); err != nil || got != big {
			t.Fatalf("GET 1 MiB: %d bytes, %v", len(got), err)
		}
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 500 {
				p.Incr(ctx, "tls:n")
				_ = i
			}
			return nil
		})
		if err != nil || len(cmds) != 500 || cmds[499].(*redis.IntCmd).Val() != 500 {
			t.Fatalf("500 pipelined INCR: %d replies, %v", len(cmds), err)
		}
	})

	t.Run("plaintext client refused", func(t *testing.T) {
		before := s.m.tlsHandshakeErrors.Load()
		got, closed := exchange(t, paddr, "PING\r\n")
		if !closed || strings.Contains(got, "PONG") {
			t.Fatalf("plaintext client: got %q, closed %v", got, closed)
		}
		if n := s.m.tlsHandshakeErrors.Load(); n != before+1 {
			t.Errorf("tls_handshake_errors = %d, want %d", n, before+1)
		}
		plain := client(t, paddr, func(o *redis.Options) { o.DialTimeout = 5 * time.Second })
		if err := plain.Ping(ctx).Err(); err == nil {
			t.Fatal("a plaintext go-redis client got PONG")
		}
		mustWork(t, c)
	})

	t.Run("authentication and the limits before it", func(t *testing.T) {
		raw := dialTLS(t, d, paddr)
		if got := raw.do(t, "PING"); got[0] != strings.TrimSpace(replyNoAuth) {
			t.Fatalf("PING before AUTH: %v", got)
		}
		if got := raw.do(t, "AUTH wrong"); got[0] != strings.TrimSpace(replyWrongPass) {
			t.Fatalf("AUTH with a wrong password: %v", got)
		}
		if got := raw.do(t, "AUTH "+testPassword, "PING"); fmt.Sprint(got) != "[+OK +PONG]" {
			t.Fatalf("AUTH: %v", got)
		}
		for _, tc := range []struct{ in, want string }{
			{"*11\r\n$4\r\nPING\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"},
			{"*2\r\n$4\r\nECHO\r\n$16385\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n"},
		} {
			raw := dialTLS(t, d, paddr)
			if _, err := io.WriteString(raw.nc, tc.in); err != nil {
				t.Fatal(err)
			}
			if got, closed := readUntilClosed(raw.nc, 10*time.Second); got != tc.want || !closed {
				t.Errorf("%q before AUTH: got %q (closed %v), want %q", tc.in, got, closed, tc.want)
			}
		}
		mustWork(t, c)
	})

	t.Run("pause and resume", func(t *testing.T) {
		held := make(chan error, 1)
		s.Pause(ctx)
		go func() { held <- c.Set(ctx, "tls:paused", "1", 0).Err() }()
		redistest.WaitFor(t, 10*time.Second, "the command to be held", func(context.Context) error {
			if n := s.m.held.Load(); n != 1 {
				return fmt.Errorf("%d connections held", n)
			}
			return nil
		})
		s.Resume("")
		if err := <-held; err != nil {
			t.Fatalf("SET held by the pause: %v", err)
		}
	})
}

// TestTLSRotatedPassword: during a rotation, while the instance has not
// read the new password yet, the proxy authenticates over TLS with the new
// one, is refused, and goes on with the previous one.
func TestTLSRotatedPassword(t *testing.T) {
	d := certstest.New(t)
	addr, _ := startTLSProcess(t, "redis-server", d)
	ctx := ctxT(t)
	admin := redis.NewClient(&redis.Options{Addr: addr, Password: testPassword, TLSConfig: d.Files().ClientConfig()})
	defer admin.Close()
	s, paddr := tlsProxy(t, d, addr, nil)
	s.SetPassword("n3w-pass", testPassword)
	c := tlsClient(t, d, paddr, nil)
	if err := c.Set(ctx, "tls:rotated", "1", 0).Err(); err != nil {
		t.Fatalf("SET with the previous password during the rotation: %v", err)
	}
	if n, err := admin.Do(ctx, "ACL", "LOG").Slice(); err != nil || len(n) == 0 {
		t.Fatalf("the instance refused no password (ACL LOG: %v, %v): the proxy did not try the new one", n, err)
	}
}

// TestTLSHandshakeAndAuthTimeout: a client that never completes its
// handshake, and one that completes it and never authenticates, are closed
// after the authentication timeout and leave their places among the
// clients; MaxClients counts TLS clients as plain ones.
func TestTLSHandshakeAndAuthTimeout(t *testing.T) {
	d := certstest.New(t)
	addr, _ := startTLSProcess(t, "redis-server", d)
	const timeout = 300 * time.Millisecond
	s, paddr := tlsProxy(t, d, addr, func(c *Config) { c.AuthTimeout, c.MaxClients = timeout, 3 })
	start := time.Now()
	silent, err := net.Dial("tcp", paddr) // never says hello
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	unauthed := dialTLS(t, d, paddr)
	authed := dialTLS(t, d, paddr)
	if got := authed.do(t, "AUTH "+testPassword); got[0] != "+OK" {
		t.Fatalf("AUTH: %v", got)
	}
	for name, nc := range map[string]net.Conn{"no handshake": silent, "no AUTH": unauthed.nc} {
		got, closed := readUntilClosed(nc, 10*time.Second)
		if !closed || got != "" {
			t.Errorf("%s: got %q, closed %v", name, got, closed)
		}
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("closed after %v, before the timeout of %v", elapsed, timeout)
	}
	waitActive(t, s, 1)
	if got := authed.do(t, "PING"); got[0] != "+PONG" {
		t.Fatalf("authenticated client after the timeout: %v", got)
	}
	// Three places: the authenticated client and two more; the next is
	// closed without a handshake.
	for range 2 {
		if got := dialTLS(t, d, paddr).do(t, "AUTH "+testPassword); got[0] != "+OK" {
			t.Fatalf("AUTH within the limit: %v", got)
		}
	}
	if _, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", paddr, clientTLS(d)); err == nil {
		t.Fatal("a client over MaxClients completed a TLS handshake")
	}
	if n := s.m.rejected.Load(); n != 1 {
		t.Errorf("rejected = %d, want 1", n)
	}
}

// TestTLSRenewedCertificate: a renewed certificate is served at the next
// handshake, without a restart; connections already open go on.
func TestTLSRenewedCertificate(t *testing.T) {
	d := certstest.New(t)
	addr, _ := startTLSProcess(t, "redis-server", d)
	_, paddr := tlsProxy(t, d, addr, nil)
	serial := func() (*rawSession, string) {
		raw := dialTLS(t, d, paddr)
		st := raw.nc.(*tls.Conn).ConnectionState()
		if got := raw.do(t, "AUTH "+testPassword, "PING"); fmt.Sprint(got) != "[+OK +PONG]" {
			t.Fatalf("through the proxy: %v", got)
		}
		return raw, st.PeerCertificates[0].SerialNumber.String()
	}
	old, before := serial()
	d.Renew(t)
	_, after := serial()
	if after == before {
		t.Fatalf("the proxy still serves the certificate %s after its renewal", before)
	}
	if got := old.do(t, "PING"); got[0] != "+PONG" {
		t.Fatalf("a connection opened before the renewal: %v", got)
	}
}

// TestTLSFailoverThroughSentinels: the proxy follows a failover that TLS
// sentinels decide among TLS instances, asking them over TLS.
func TestTLSFailoverThroughSentinels(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: SIGKILL of the primary and a Sentinel failover")
	}
	d := certstest.New(t)
	const master = "haredis-tls"
	primary, primaryCmd := startTLSProcess(t, "redis-server", d, "masterauth "+testPassword)
	host, port, _ := strings.Cut(primary, ":")
	replica, _ := startTLSProcess(t, "redis-server", d, "masterauth "+testPassword, "replicaof "+host+" "+port)
	var sentinels []string
	for range 3 {
		a, _ := startTLSProcess(t, "redis-sentinel", d,
			"sentinel monitor "+master+" "+host+" "+port+" 2",
			"sentinel down-after-milliseconds "+master+" 1000",
			"sentinel failover-timeout "+master+" 10000",
			"sentinel auth-pass "+master+" "+testPassword,
			"sentinel sentinel-pass "+testPassword)
		sentinels = append(sentinels, a)
	}
	for _, a := range sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a, Password: testPassword, TLSConfig: d.Files().ClientConfig()})
		defer sc.Close()
		redistest.WaitFor(t, 30*time.Second, "sentinel "+a+" to know the replica and the other sentinels", func(ctx context.Context) error {
			reps, err := sc.Replicas(ctx, master).Result()
			if err != nil {
				return err
			}
			others, err := sc.Sentinels(ctx, master).Result()
			if err != nil {
				return err
			}
			if len(reps) < 1 || len(others) < 2 {
				return fmt.Errorf("%d replicas and %d other sentinels known", len(reps), len(others))
			}
			return nil
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, RunOptions{
			Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", TLSDir: d.Path,
			Sentinels: sentinels, MasterName: master, SentinelPassword: testPassword,
			Proxy: Config{Password: testPassword, Log: testr.New(t)},
			Ready: func(c, a net.Addr) { ready <- [2]net.Addr{c, a} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	var addrs [2]net.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("proxy did not start: %v", err)
	}
	admin := "http://" + addrs[1].String()
	redistest.WaitFor(t, 15*time.Second, "the proxy to follow the primary", func(context.Context) error {
		if st := status(t, admin); st.Primary != primary {
			return fmt.Errorf("proxy: %+v, want the primary %s", st, primary)
		}
		return nil
	})
	c := tlsClient(t, d, addrs[0].String(), func(o *redis.Options) { o.MaxRetries = 0 })
	if err := c.Set(ctxT(t), "tls:before", "1", 0).Err(); err != nil {
		t.Fatalf("SET before the failover: %v", err)
	}
	_ = primaryCmd.Process.Kill()
	redistest.WaitFor(t, 60*time.Second, "the proxy to follow the failover and serve writes", func(ctx context.Context) error {
		if st := status(t, admin); st.Primary != replica {
			return fmt.Errorf("proxy: %+v, want the new primary %s", st, replica)
		}
		return c.Set(ctx, "tls:after", "1", 0).Err()
	})
}

// TestTLSPlainUpstream: during a live import a TLS proxy reaches the
// source, which speaks no TLS, in plaintext (PlainUpstream), the resume's
// ROLE check too, while TLS clients are served as usual; an instance of
// the RedisFailover stays TLS.
func TestTLSPlainUpstream(t *testing.T) {
	d := certstest.New(t)
	source := startServer(t)
	instance, _ := startTLSProcess(t, "redis-server", d)
	s, paddr := tlsProxy(t, d, "", func(c *Config) { c.PlainUpstream = source.Addr() })
	ctx := ctxT(t)
	if busy := s.Pause(ctx); busy != 0 {
		t.Fatalf("pause: %d busy", busy)
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	resume := func(primary string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, admin.URL+"/resume?primary="+url.QueryEscape(primary), nil)
		req.Header.Set("Authorization", "Bearer "+testPassword)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := resume(source.Addr()); code != http.StatusOK {
		t.Fatalf("resume to the plaintext source: HTTP %d", code)
	}
	c := tlsClient(t, d, paddr, nil)
	if err := c.Set(ctx, "import:k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the proxy to the plaintext source: %v", err)
	}
	sc := source.Client()
	defer sc.Close()
	if got, err := sc.Get(ctx, "import:k").Result(); err != nil || got != "v" {
		t.Fatalf("the source has %q, %v", got, err)
	}
	// The cutover: the proxy goes to an instance, over TLS.
	s.Pause(ctx)
	if code := resume(instance); code != http.StatusOK {
		t.Fatalf("resume to the TLS instance: HTTP %d", code)
	}
	if err := c.Set(ctx, "after:k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the proxy to the TLS instance: %v", err)
	}
}
