package sentinelrun

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/supervise"
)

// tlsServer is a redis-server that speaks TLS only, as an instance of a
// RedisFailover with TLS does.
type tlsServer struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *tlsServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// startTLSServer starts redis-server with the certificates of d, a
// replica of replicaOf unless it is empty, and waits until it answers
// PING over TLS.
func startTLSServer(ctx context.Context, t *testing.T, d *certstest.Dir, replicaOf string) *tlsServer {
	t.Helper()
	s := &tlsServer{t: t, dir: t.TempDir(), port: redistest.StablePort(t)}
	files := d.Files()
	conf := []string{
		"port 0",
		fmt.Sprintf("tls-port %d", s.port),
		"tls-cert-file " + files.Path(certs.CertKey),
		"tls-key-file " + files.Path(certs.KeyKey),
		"tls-ca-cert-file " + files.Path(certs.CAKey),
		"tls-auth-clients no",
		"tls-replication yes",
		"bind 127.0.0.1",
		"dir " + s.dir,
		"logfile " + filepath.Join(s.dir, "redis.log"),
		`save ""`,
		"appendonly no",
		"requirepass " + testPassword,
		"masterauth " + testPassword,
	}
	if replicaOf != "" {
		host, port, _ := net.SplitHostPort(replicaOf)
		conf = append(conf, "replicaof "+host+" "+port)
	}
	path := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("redis-server", path)
	s.cmd.Dir = s.dir
	if err := supervise.StartTied(s.cmd); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)
	c := s.client(files)
	defer c.Close()
	err := redistest.Wait(ctx, 20*time.Millisecond, func() error {
		select {
		case <-s.done:
			return errors.New("redis-server exited")
		default:
		}
		return c.Ping(ctx).Err()
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		t.Fatalf("redis-server with TLS on %s does not start: %v\n%s", s.addr(), err, log)
	}
	return s
}

func (s *tlsServer) client(files *certs.Files) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.addr(), Password: testPassword, TLSConfig: files.ClientConfig(),
		MaxRetries: -1, DialTimeout: time.Second})
}

// kill ends the server with SIGKILL, as a node that is lost.
func (s *tlsServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// syncBuffer collects a runner's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tlsRunner is `haredis sentinel run` with TLS, run in the test's process:
// it supervises its redis-sentinel until the test ends.
type tlsRunner struct {
	t      *testing.T
	opts   Options
	logs   *syncBuffer
	cancel context.CancelFunc
	errc   chan error
}

func (r *tlsRunner) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.opts.Port)) }

// sentinelLog is the tail of redis-sentinel's log and the runner's log.
func (r *tlsRunner) sentinelLog() string {
	b, _ := os.ReadFile(r.opts.Output.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n") + "\nrunner:\n" + r.logs.String()
}

// startTLSRunners writes instance.json and the password file for cfg and
// starts a runner per sentinel of cfg, on the certificates of d.
func startTLSRunners(ctx context.Context, t *testing.T, cfg *instanceconfig.Config, d *certstest.Dir) []*tlsRunner {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configPath, passwordPath := filepath.Join(dir, "instance.json"), filepath.Join(dir, "password")
	for path, content := range map[string][]byte{configPath: b, passwordPath: []byte(testPassword + "\n")} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out []*tlsRunner
	for i, s := range cfg.Sentinels {
		_, portStr, _ := net.SplitHostPort(s)
		port, _ := strconv.Atoi(portStr)
		runDir := t.TempDir()
		output, err := os.Create(filepath.Join(runDir, "sentinel.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { output.Close() })
		logs := &syncBuffer{}
		rctx, cancel := context.WithCancel(context.Background())
		r := &tlsRunner{t: t, logs: logs, cancel: cancel, errc: make(chan error, 1), opts: Options{
			ConfigPath: configPath, PasswordFile: passwordPath, RunDir: runDir, PodName: cfg.SentinelPods[i],
			AnnounceHostname: "127.0.0.1", Binary: "redis-sentinel", Port: port,
			DownAfter: time.Second, FailoverTimeout: 10 * time.Second,
			TLSDir: d.Path, CertCheckInterval: 100 * time.Millisecond, Output: output,
			Log: slog.New(slog.NewTextHandler(logs, nil)),
		}}
		go func() { r.errc <- Run(rctx, r.opts) }()
		t.Cleanup(r.stop)
		out = append(out, r)
	}
	files := d.Files()
	for _, r := range out {
		sc := sentinel.Dial(r.addr(), sentinel.Access{Password: testPassword, TLS: files.ClientConfig()})
		err := redistest.Wait(ctx, 20*time.Millisecond, func() error {
			select {
			case err := <-r.errc:
				r.errc <- err
				return fmt.Errorf("the runner returned: %v", err)
			default:
			}
			return sc.Ping(ctx).Err()
		})
		sc.Close()
		if err != nil {
			t.Fatalf("the sentinel on %s does not answer over TLS: %v\n%s", r.addr(), err, r.sentinelLog())
		}
	}
	return out
}

// stop ends the runner as the kubelet stops the container: it must stop
// redis-sentinel and return nil.
func (r *tlsRunner) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.errc:
		if err != nil {
			r.t.Errorf("the runner of %s returned %v when stopped", r.addr(), err)
		}
	case <-time.After(20 * time.Second):
		r.t.Errorf("the runner of %s did not return within 20 s of its stop", r.addr())
	}
}

// tlsConfig builds instance.json of a RedisFailover with TLS whose
// instances are servers and whose sentinels listen on n stable ports.
func tlsConfig(t *testing.T, master string, servers []*tlsServer, n int) *instanceconfig.Config {
	cfg := &instanceconfig.Config{
		ClusterName: "app", MasterName: master, Hosts: map[string]string{},
		SentinelAuthEnabled: true, AuthEnabled: true, Persistence: "None", InitialPrimary: "app-1", TLS: true,
	}
	for i, s := range servers {
		name := fmt.Sprintf("app-%d", i+1)
		cfg.Instances = append(cfg.Instances, name)
		cfg.Hosts[name] = s.addr()
	}
	for i := range n {
		cfg.Sentinels = append(cfg.Sentinels, net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.StablePort(t))))
		cfg.SentinelPods = append(cfg.SentinelPods, fmt.Sprintf("app-sentinel-%d", i+1))
	}
	return cfg
}

// TestTLSSentinelsAgreeAndFailOver runs a primary and a replica that speak
// TLS only and three sentinels started by the runner with TLS: the
// sentinels agree on the primary over TLS, refuse a plaintext client, and
// when the primary is killed fail over to the replica. The failover needs
// TLS on every link: the sentinels reach the instances, and with a quorum
// of two each needs a peer's answer (SENTINEL is-master-down-by-addr) and
// votes before it promotes.
func TestTLSSentinelsAgreeAndFailOver(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: runs two redis-server and three sentinels and waits for a failover")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := certstest.New(t)
	files := d.Files()
	primary := startTLSServer(ctx, t, d, "")
	replica := startTLSServer(ctx, t, d, primary.addr())
	rc := replica.client(files)
	defer rc.Close()
	redistest.WaitFor(t, 30*time.Second, "the replica in sync over TLS", func(ctx context.Context) error {
		info, err := rc.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return errors.New("master_link_status is not up")
		}
		return nil
	})
	cfg := tlsConfig(t, "ns.app.tls", []*tlsServer{primary, replica}, 3)
	runners := startTLSRunners(ctx, t, cfg, d)
	access := sentinel.Access{Password: testPassword, TLS: files.ClientConfig()}
	for _, r := range runners {
		sc := sentinel.Dial(r.addr(), access)
		redistest.WaitFor(t, 30*time.Second, "sentinel "+r.addr()+" to know the primary, the replica and its two peers", func(ctx context.Context) error {
			m, err := sc.Master(ctx, cfg.MasterName).Result()
			if err != nil {
				return err
			}
			if got := net.JoinHostPort(m["ip"], m["port"]); got != primary.addr() {
				return fmt.Errorf("it monitors %s, want %s", got, primary.addr())
			}
			if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return fmt.Errorf("it knows %s replicas and %s peers", m["num-slaves"], m["num-other-sentinels"])
			}
			return nil
		})
		sc.Close()
	}
	plain := redis.NewSentinelClient(&redis.Options{Addr: runners[0].addr(), Password: testPassword, MaxRetries: -1, DialTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Error("a sentinel with TLS answered a plaintext client")
	}

	addrs := make([]string, len(runners))
	for i, r := range runners {
		addrs[i] = r.addr()
	}
	primary.kill()
	redistest.WaitFor(t, 60*time.Second, "the sentinels to fail over to the replica over TLS", func(ctx context.Context) error {
		answers := sentinel.AskPrimary(ctx, addrs, cfg.MasterName, access, time.Second)
		named := 0
		for _, a := range answers {
			if a.Addr == replica.addr() {
				named++
			}
		}
		if named < 2 {
			return fmt.Errorf("the sentinels answer %v, want the replica %s from a majority", answers, replica.addr())
		}
		role, err := redistest.Role(ctx, rc)
		if err != nil {
			return err
		}
		if role != "master" {
			return fmt.Errorf("the replica is still a %s", role)
		}
		return nil
	})

	// A sentinel that starts now asks its peers over TLS and follows the
	// failover, not the primary instance.json recorded; without TLS the
	// peers cannot answer it.
	for _, tlsDir := range []string{d.Path, ""} {
		_, chosen, err := Prepare(ctx, Inputs{
			Config: cfg, PodName: "app-sentinel-4", AnnounceHostname: "127.0.0.1", Port: redistest.StablePort(t), TLSDir: tlsDir,
			Password: testPassword, DownAfter: time.Second, FailoverTimeout: 10 * time.Second, AskTimeout: time.Second, Log: quietLog(),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := replica.addr()
		if tlsDir == "" {
			want = primary.addr()
		}
		if chosen != want {
			t.Errorf("a new sentinel (TLS directory %q) chose %s, want %s", tlsDir, chosen, want)
		}
	}
	if t.Failed() {
		for _, r := range runners {
			t.Logf("sentinel %s:\n%s", r.addr(), r.sentinelLog())
		}
	}
}

// servedSerial is the serial number of the certificate a TLS handshake
// with addr shows.
func servedSerial(ctx context.Context, addr string, cfg *tls.Config) (*big.Int, error) {
	dialer := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: cfg}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot complete a TLS handshake with %s: %w", addr, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// fileSerial is the serial number of the certificate in d.
func fileSerial(t *testing.T, d *certstest.Dir) *big.Int {
	t.Helper()
	b, err := os.ReadFile(d.Files().Path(certs.CertKey))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("tls.crt holds no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber
}

// TestTLSSentinelServesRenewedCertificate renews the certificate under a
// running sentinel, as cert-manager and the kubelet do: the runner
// restarts redis-sentinel once, which then serves the new certificate,
// still monitors the primary and remembers the vote it cast before.
func TestTLSSentinelServesRenewedCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := certstest.New(t)
	files := d.Files()
	primary := startTLSServer(ctx, t, d, "")
	cfg := tlsConfig(t, "ns.app.renew", []*tlsServer{primary}, 1)
	r := startTLSRunners(ctx, t, cfg, d)[0]
	sc := sentinel.Dial(r.addr(), sentinel.Access{Password: testPassword, TLS: files.ClientConfig()})
	defer sc.Close()
	const epoch = 5
	candidateA, candidateB := MyID(cfg.MasterName, "app-sentinel-2"), MyID(cfg.MasterName, "app-sentinel-3")
	if leader, _, err := vote(ctx, sc, primary.addr(), epoch, candidateA); err != nil || leader != candidateA {
		t.Fatalf("the vote in epoch %d went to %q (%v), want %s", epoch, leader, err, candidateA)
	}
	before := fileSerial(t, d)
	if got, err := servedSerial(ctx, r.addr(), files.ClientConfig()); err != nil || got.Cmp(before) != 0 {
		t.Fatalf("the sentinel serves serial %v (%v), want %v", got, err, before)
	}

	d.Renew(t)
	renewed := fileSerial(t, d)
	redistest.WaitFor(t, 30*time.Second, "the sentinel to serve the renewed certificate", func(ctx context.Context) error {
		got, err := servedSerial(ctx, r.addr(), files.ClientConfig())
		if err != nil {
			return err
		}
		if got.Cmp(renewed) != 0 {
			return fmt.Errorf("it serves serial %x, want %x", got, renewed)
		}
		return nil
	})
	if n := strings.Count(r.logs.String(), "restarting the sentinel to serve it"); n != 1 {
		t.Errorf("the runner restarted the sentinel %d times for one renewal:\n%s", n, r.logs.String())
	}
	// The restart closed the clients' connections, as a restart of the
	// container does.
	sc.Close()
	sc = sentinel.Dial(r.addr(), sentinel.Access{Password: testPassword, TLS: files.ClientConfig()})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, cfg.MasterName).Result()
	if err != nil || net.JoinHostPort(addr[0], addr[1]) != primary.addr() {
		t.Fatalf("after the restart the sentinel names %v (%v), want %s\n%s", addr, err, primary.addr(), r.sentinelLog())
	}
	leader, leaderEpoch, err := vote(ctx, sc, primary.addr(), epoch, candidateB)
	if err != nil {
		t.Fatal(err)
	}
	if leader == candidateB || leaderEpoch != epoch {
		t.Errorf("after the restart the sentinel voted for %s in epoch %d, a second vote in epoch %d", leader, leaderEpoch, epoch)
	}
}

func TestRestartDelayStaggersTheSentinels(t *testing.T) {
	for pod, want := range map[string]time.Duration{
		"app-sentinel-1": 0, "app-sentinel-2": 10 * time.Second, "app-sentinel-3": 20 * time.Second,
		"sentinel": 0, "app-sentinel-x": 0,
	} {
		if got := restartDelay(pod); got != want {
			t.Errorf("restartDelay(%q) = %s, want %s", pod, got, want)
		}
	}
}
