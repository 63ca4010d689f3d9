package instance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/s3test"
)

// TestTLSReplicationAndRotation runs a primary and a replica that speak TLS
// only, with ACL users and a parameter group (checked by a throwaway
// server): the replica replicates over TLS, a plaintext client is refused,
// a client with the CA is served. A renewed certificate is then served
// without a restart, a certificate Redis refuses leaves the previous one in
// place, and replication goes on through both.
func TestTLSReplicationAndRotation(t *testing.T) {
	c := newTestCluster(t, []string{"app-1", "app-2"}, nil, map[string]string{"notify-keyspace-events": "gxE"})
	c.useACLUsers()
	c.useTLS()
	c.cfg.Sentinels = []string{startTLSSentinel(t, c)}
	p := c.start("app-1")
	waitRole(t, p.m, "primary", 20*time.Second)
	r := c.start("app-2")
	waitRole(t, r.m, "replica", 30*time.Second)

	ctx := context.Background()
	// The replica's boot decision asked the sentinel and the primary's
	// server over TLS.
	if d := r.m.Status().LastDecision; d == nil || len(d.Facts.Peers) != 1 || !d.Facts.Peers[0].Reachable || d.Facts.Peers[0].Role != "master" ||
		len(d.Facts.Sentinels) != 1 || !d.Facts.Sentinels[0].Reachable {
		t.Errorf("the replica's boot decision did not reach the primary and the sentinel: %+v", d)
	}
	checkReplicates(t, c, "before the rotation")
	// The replica's manager asks the primary for its lag over TLS.
	redistest.WaitFor(t, 10*time.Second, "the replica's lag is known", func(context.Context) error {
		if s := r.m.Status(); !s.MasterLinkUp || s.LagBytes < 0 {
			return fmt.Errorf("link up %v, lag %d", s.MasterLinkUp, s.LagBytes)
		}
		return nil
	})

	for _, name := range []string{"app-1", "app-2"} {
		plain := redis.NewClient(&redis.Options{Addr: c.cfg.Hosts[name], Password: testPassword, MaxRetries: -1,
			DialTimeout: time.Second, ReadTimeout: time.Second, Protocol: 2, DisableIdentity: true})
		if err := plain.Ping(ctx).Err(); err == nil {
			t.Errorf("%s served a plaintext client", name)
		}
		plain.Close()
		if err := c.client(name).Ping(ctx).Err(); err != nil {
			t.Errorf("%s refused a TLS client with the CA: %v", name, err)
		}
	}
	if conf, err := os.ReadFile(filepath.Join(p.m.opts.RunDir, "redis.conf")); err != nil {
		t.Fatal(err)
	} else if d := confDirectives(conf); d["port"] != `"0"` || d["tls-port"] != fmt.Sprintf("%q", fmt.Sprint(c.ports["app-1"])) {
		t.Errorf("redis.conf renders port %s, tls-port %s", d["port"], d["tls-port"])
	}

	first := servedSerial(t, c, "app-1")
	c.tls.Renew(t)
	renewed := fileSerial(t, c.tls.Path)
	if renewed == first {
		t.Fatal("the renewed certificate has the serial number of the first one")
	}
	waitServedSerial(t, c, renewed)
	if rs := r.m.Status(); rs.Restarts != 0 || p.m.Status().Restarts != 0 {
		t.Errorf("a server was restarted to load the renewed certificate")
	}
	// The replica connects again with the renewed certificates.
	if err := c.adminClient("app-1").Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	checkReplicates(t, c, "after the rotation")

	// A key that does not belong to the certificate: Redis refuses it and
	// keeps serving the renewed one.
	otherKey, err := os.ReadFile(filepath.Join(certstest.New(t).Path, certs.KeyKey))
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, filepath.Join(c.tls.Path, certs.KeyKey), otherKey)
	if refused := p.m.checkCerts(ctx, ""); refused == "" {
		t.Error("redis-server took a key that does not belong to its certificate")
	}
	if got := servedSerial(t, c, "app-1"); got != renewed {
		t.Errorf("after a refused certificate app-1 serves serial %s, want the previous %s", got, renewed)
	}
	c.tls.Renew(t)
	waitServedSerial(t, c, fileSerial(t, c.tls.Path))
	checkReplicates(t, c, "after a refused certificate")
}

// startTLSSentinel starts a sentinel monitoring app-1 that serves TLS on
// the port it returns the address of (and plaintext on another), and
// reaches the instances with TLS.
func startTLSSentinel(t *testing.T, c *testCluster) string {
	t.Helper()
	port := redistest.StablePort(t)
	d := c.tls.Files()
	s, err := redistest.StartSentinel(redistest.SentinelConfig{MasterName: c.cfg.MasterName, MasterAddr: c.cfg.Hosts["app-1"], Quorum: 1,
		Extra: []string{
			fmt.Sprintf("tls-port %d", port),
			"tls-cert-file " + d.Path(certs.CertKey), "tls-key-file " + d.Path(certs.KeyKey), "tls-ca-cert-file " + d.Path(certs.CAKey),
			"tls-auth-clients no", "tls-replication yes",
			fmt.Sprintf("sentinel auth-pass %s %s", c.cfg.MasterName, testPassword),
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// checkReplicates writes a key on app-1 and waits until app-2 has it.
func checkReplicates(t *testing.T, c *testCluster, when string) {
	t.Helper()
	ctx := context.Background()
	key := "tls-" + when
	if err := c.client("app-1").Set(ctx, key, when, 0).Err(); err != nil {
		t.Fatalf("%s: cannot write to the primary: %v", when, err)
	}
	replica := c.client("app-2")
	redistest.WaitFor(t, 20*time.Second, "the replica has the key written "+when, func(ctx context.Context) error {
		v, err := replica.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("not yet")
		}
		if err != nil {
			return err
		}
		if v != when {
			return fmt.Errorf("value %q", v)
		}
		return nil
	})
}

// servedSerial is the serial number of the certificate an instance
// presents in a TLS handshake.
func servedSerial(t *testing.T, c *testCluster, name string) string {
	t.Helper()
	s, err := handshakeSerial(c, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func handshakeSerial(c *testCluster, name string) (string, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: c.clientTLS()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Hosts[name])
	if err != nil {
		return "", fmt.Errorf("TLS handshake with %s: %w", name, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// waitServedSerial waits until both instances present the certificate
// with serial.
func waitServedSerial(t *testing.T, c *testCluster, serial string) {
	t.Helper()
	for _, name := range []string{"app-1", "app-2"} {
		redistest.WaitFor(t, 20*time.Second, name+" serves the certificate "+serial, func(context.Context) error {
			got, err := handshakeSerial(c, name)
			if err != nil {
				return err
			}
			if got != serial {
				return fmt.Errorf("serves %s", got)
			}
			return nil
		})
	}
}

// fileSerial is the serial number of the certificate in dir's tls.crt.
func fileSerial(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, certs.CertKey))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("tls.crt holds no PEM block")
	}
	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crt.SerialNumber.String()
}

// writeAtomically replaces path's content at once, as the kubelet does.
func writeAtomically(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// confDirectives returns the value of every directive of a redis.conf.
func confDirectives(conf []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(conf), "\n") {
		if name, value, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			out[name] = value
		}
	}
	return out
}

// TestBackupWithTLS takes a backup of an instance that speaks TLS only:
// the snapshot comes through the Unix socket of the manager's own
// connections.
func TestBackupWithTLS(t *testing.T) {
	store := s3test.Run(t, s3test.Options{})
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.useACLUsers()
	c.useTLS()
	tm := c.start("app-1")
	waitRole(t, tm.m, instanceapi.RolePrimary, 20*time.Second)
	ctx := context.Background()
	rc := c.client("app-1")
	for i := range 50 {
		if err := rc.Set(ctx, fmt.Sprintf("key:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	api := &instanceapi.Client{BaseURL: "http://" + tm.m.HTTPAddr(), Token: testToken}
	req := instanceapi.BackupRequest{ID: "uid-tls", Key: "tls.rdb", Store: instanceapi.Store{Endpoint: store.Endpoint, Bucket: store.Bucket,
		Region: s3test.Region, AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}}
	if _, err := api.StartBackup(ctx, req); err != nil {
		t.Fatal(err)
	}
	s := waitBackup(t, api, req.ID)
	if s.Phase != instanceapi.BackupCompleted || s.Keys != 50 || s.Size <= 0 || s.ReplID == "" {
		t.Errorf("backup %+v: want completed, with 50 keys, a size and a replication ID", s)
	}
}

// TestLiveImportWithTLS: an instance that speaks TLS imports from a source
// outside the RedisFailover that speaks none, and replicates over TLS
// again once the cutover made it the primary.
func TestLiveImportWithTLS(t *testing.T) {
	src := startSource(t, testPassword)
	ctx := context.Background()
	sc := src.Client()
	defer sc.Close()
	data := redistest.Dataset{Prefix: "before", N: 50}
	if err := data.Write(ctx, sc); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	c.useTLS()
	c.cfg.Bootstrap = &instanceconfig.Bootstrap{Instance: "app-1", Source: "redis://" + src.Addr(),
		FromRedis: &instanceconfig.LiveSource{Addr: src.Addr()}}
	tm := c.start("app-1")
	waitImportLinkUp(t, tm.m)
	rc := c.client("app-1")
	redistest.WaitFor(t, 30*time.Second, "app-1 holds the source's data", func(ctx context.Context) error {
		return data.Compare(ctx, sc, rc)
	})
	if v, err := rc.ConfigGet(ctx, "tls-replication").Result(); err != nil || v["tls-replication"] != "no" {
		t.Errorf("during the import tls-replication is %v (%v), want no", v, err)
	}
	api := &instanceapi.Client{BaseURL: "http://" + tm.m.HTTPAddr(), Token: testToken}
	if _, err := api.Cutover(ctx); err != nil {
		t.Fatalf("cutover: %v", err)
	}
	if err := api.ReleaseCutover(ctx); err != nil {
		t.Fatal(err)
	}
	waitRole(t, tm.m, "primary", 10*time.Second)
	if v, err := rc.ConfigGet(ctx, "tls-replication").Result(); err != nil || v["tls-replication"] != "yes" {
		t.Errorf("after the cutover tls-replication is %v (%v), want yes", v, err)
	}
}

// TestTLSRefusesARunDirTooLongForTheSocket: with TLS the manager reaches
// its server through a Unix socket in the run dir, whose path is bounded.
func TestTLSRefusesARunDirTooLongForTheSocket(t *testing.T) {
	cfg := &instanceconfig.Config{ClusterName: "app", MasterName: "m", Instances: []string{"app-1"}, InitialPrimary: "app-1",
		Persistence: instanceconfig.PersistenceAOF, TLS: true}
	opts := Options{Config: cfg, Self: "app-1", DataDir: t.TempDir(), RunDir: "/run/" + strings.Repeat("d", 100), Log: testLogger(t)}
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("New with a run dir of %d bytes: %v, want too long", len(opts.RunDir), err)
	}
	opts.RunDir = "/run/haredis"
	if _, err := New(opts); err != nil {
		t.Errorf("New with the usual run dir: %v", err)
	}
}
