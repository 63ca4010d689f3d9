package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// TestTLSEverywhere: a RedisFailover with spec.tls and the certificate
// haredis issues. Clients that verify the host name with the CA of
// NAME-connection connect through REDIS_URL (the proxy, TLS on both
// sides), NAME-primary and the sentinels, and redis-cli --tls does too; a
// plaintext client is refused everywhere. A switchover under a write load
// through REDIS_URL and a SIGKILL of the primary work over TLS, and a
// renewed certificate is served without a restart.
func TestTLSEverywhere(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "tls", func(rf *haredisv1.RedisFailover) {
		rf.Spec.TLS = &haredisv1.TLSSpec{Enabled: true}
	})
	ctx := context.Background()
	conn := &corev1.Secret{}
	if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf.ConnectionSecretName()}, conn); err != nil {
		t.Fatal(err)
	}
	redisURL := string(conn.Data[specs.ConnURL])
	if !strings.HasPrefix(redisURL, "rediss://") || !strings.HasPrefix(rf.Status.Endpoints.SentinelURL, "rediss+sentinel://") {
		t.Fatalf("REDIS_URL %q and the sentinel URL %q, want rediss://", redisURL, rf.Status.Endpoints.SentinelURL)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(conn.Data[specs.ConnCA]) {
		t.Fatalf("NAME-connection's %s holds no CA", specs.ConnCA)
	}
	// verified is what an application does: the CA of NAME-connection and
	// the host name it dials.
	verified := func(host string) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	}
	tlsDial := func(cfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		}
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	newClient := func(addr, serverName string) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: addr, Password: pw, Dialer: tlsDial(verified(serverName)),
			DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	}
	proxied := newClient(u.Host, u.Hostname())
	defer proxied.Close()
	primaryHost := specs.ServiceHost(rf, rf.PrimaryServiceName())
	direct := newClient(rf.Status.Endpoints.Primary, primaryHost)
	defer direct.Close()

	t.Run("clients with the CA connect, plaintext is refused", func(t *testing.T) {
		redistest.WaitFor(t, time.Minute, "a write through REDIS_URL over TLS", func(ctx context.Context) error {
			return proxied.Set(ctx, "tls-proxied", "1", 0).Err()
		})
		// The Service's endpoints may follow the pod's readiness by a moment.
		redistest.WaitFor(t, time.Minute, "the key read through NAME-primary over TLS", func(ctx context.Context) error {
			if v, err := direct.Get(ctx, "tls-proxied").Result(); err != nil || v != "1" {
				return fmt.Errorf("%q %v", v, err)
			}
			return nil
		})
		sentinelHost := specs.ServiceHost(rf, rf.SentinelServiceName())
		sc := redis.NewSentinelClient(&redis.Options{Addr: rf.Status.Endpoints.Sentinel, Password: pw, Dialer: tlsDial(verified(sentinelHost)),
			DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
		defer sc.Close()
		redistest.WaitFor(t, time.Minute, "the primary named by the sentinels over TLS", func(ctx context.Context) error {
			if addr, err := sc.GetMasterAddrByName(ctx, rf.MasterName()).Result(); err != nil || len(addr) != 2 {
				return fmt.Errorf("%v %v", addr, err)
			}
			return nil
		})
		// Plaintext: to the proxy, the primary and a sentinel.
		for what, addr := range map[string]string{"REDIS_URL": u.Host, "NAME-primary": rf.Status.Endpoints.Primary, "the sentinels": rf.Status.Endpoints.Sentinel} {
			c := plainClient(addr, pw)
			err := c.Ping(ctx).Err()
			c.Close()
			switch {
			case err == nil:
				t.Errorf("a plaintext client reached %s", what)
			case strings.Contains(err.Error(), "connection refused"):
				// Nothing listened: that proves nothing about TLS.
				t.Errorf("%s refused the connection itself (%v); want the server to close a plaintext client", what, err)
			}
		}
		// A client that trusts another CA is refused too.
		other := certsOfAnotherCA(t)
		c := redis.NewClient(&redis.Options{Addr: u.Host, Password: pw, Dialer: tlsDial(&tls.Config{RootCAs: other, ServerName: u.Hostname()}),
			DialTimeout: time.Second, MaxRetries: -1})
		if err := c.Ping(ctx).Err(); err == nil {
			t.Error("a client that trusts another CA accepted the proxy's certificate")
		}
		c.Close()
		// redis-cli --tls with the CA, from a pod that mounts it.
		pod, err := env.Bed.Pod(ctx, ns, rf.Status.CurrentPrimary)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{primaryHost, u.Hostname()} {
			out, stderr, code, err := pod.Exec(ctx, "redis", nil, "sh", "-c",
				`cli=$(command -v redis-cli || command -v valkey-cli); REDISCLI_AUTH="$1" VALKEYCLI_AUTH="$1" "$cli" --tls --cacert `+certs.MountDir+`/`+certs.CAKey+` -h "$2" -p 6379 get tls-proxied`,
				"sh", pw, host)
			if err != nil || code != 0 || strings.TrimSpace(out) != "1" {
				t.Errorf("redis-cli --tls to %s: %q %q code %d %v", host, out, stderr, code, err)
			}
		}
	})

	t.Run("switchover under load and a failover", func(t *testing.T) {
		load := writeload.Start(ctx, proxied, writeload.Options{Prefix: "tls-so", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		cur, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		to := anyReplica(cur)
		patchStatus(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Status.TargetPrimary = to })
		waitFor2(t, ns, "app", 2*time.Minute, "the switchover to "+to, func(rf *haredisv1.RedisFailover) error {
			if ls := rf.Status.LastSwitchover; ls == nil || ls.To != to || ls.Result != haredisv1.SwitchoverSucceeded {
				return fmt.Errorf("lastSwitchover %+v", rf.Status.LastSwitchover)
			}
			return nil
		})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		rep := load.Stop()
		t.Logf("writes through REDIS_URL over TLS during the switchover: %s", rep.Summary())
		if len(rep.Failures) > 0 {
			t.Errorf("%d commands failed through the proxy during a planned switchover, first %q", len(rep.Failures), rep.Failures[0].Err)
		}
		checkLost(t, rep, proxied)

		oldPod, err := getPod(ctx, ns, to)
		if err != nil {
			t.Fatal(err)
		}
		st, err := instanceStatus(ctx, oldPod)
		if err != nil || st.RedisPID == 0 {
			t.Fatalf("cannot read the primary's redis-server pid: %v", err)
		}
		if err := syscall.Kill(st.RedisPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor2(t, ns, "app", 90*time.Second, "a new primary after the SIGKILL", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.CurrentPrimary == to {
				return fmt.Errorf("current primary still %s", to)
			}
			return nil
		})
		redistest.WaitFor(t, time.Minute, "a write through REDIS_URL after the failover", func(ctx context.Context) error {
			return proxied.Set(ctx, "tls-after-failover", "1", 0).Err()
		})
		if v, err := proxied.Get(ctx, "tls-proxied").Result(); err != nil || v != "1" {
			t.Errorf("the key written before: %q %v", v, err)
		}
		waitRFReady(t, ns, "app", 3*time.Minute)
	})

	t.Run("a renewed certificate is served without a restart", func(t *testing.T) {
		cur, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		primary, err := getPod(ctx, ns, cur.Status.CurrentPrimary)
		if err != nil {
			t.Fatal(err)
		}
		serial := func(ctx context.Context, addr string) (string, error) {
			c, err := tlsDial(&tls.Config{RootCAs: roots, ServerName: primaryHost})(ctx, "tcp", addr)
			if err != nil {
				return "", err
			}
			defer c.Close()
			return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
		}
		sentinelPods := &corev1.PodList{}
		if err := kc.List(ctx, sentinelPods, client.InNamespace(ns), client.MatchingLabels{specs.LabelComponent: specs.ComponentSentinel}); err != nil {
			t.Fatal(err)
		}
		addrs := map[string]string{"primary " + primary.Name: podAddr(primary), "proxy": u.Host}
		for _, p := range sentinelPods.Items {
			addrs["sentinel "+p.Name] = net.JoinHostPort(p.Status.PodIP, "26379")
		}
		before := map[string]string{}
		for what, addr := range addrs {
			if before[what], err = serial(ctx, addr); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		restarts := containerRestarts(t, ns)
		// A deleted NAME-tls is issued again by the same CA.
		if err := kc.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rf.TLSSecretName()}}); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 3*time.Minute, "the renewed certificate served by the primary, the proxy and every sentinel", func(ctx context.Context) error {
			for what, addr := range addrs {
				s, err := serial(ctx, addr)
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				if s == before[what] {
					return fmt.Errorf("%s still serves the old certificate", what)
				}
			}
			return nil
		})
		redistest.WaitFor(t, time.Minute, "a write through REDIS_URL, read on every replica", func(ctx context.Context) error {
			if err := proxied.Set(ctx, "tls-renewed", "1", 0).Err(); err != nil {
				return err
			}
			return eachInstance(ctx, ns, "app", func(ctx context.Context, addr string) error {
				c := redis.NewClient(&redis.Options{Addr: addr, Password: pw, Dialer: tlsDial(&tls.Config{RootCAs: roots, ServerName: primaryHost}),
					DialTimeout: time.Second, MaxRetries: -1})
				defer c.Close()
				if v, err := c.Get(ctx, "tls-renewed").Result(); err != nil || v != "1" {
					return fmt.Errorf("tls-renewed: %q %v", v, err)
				}
				return nil
			})
		})
		if after := containerRestarts(t, ns); after != restarts {
			t.Errorf("containers restarted while the certificate was renewed: %d before, %d after", restarts, after)
		}
	})
}

// containerRestarts sums the restart counts of every container in ns.
func containerRestarts(t *testing.T, ns string) int32 {
	t.Helper()
	var pods corev1.PodList
	if err := kc.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var n int32
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			n += cs.RestartCount
		}
	}
	return n
}

func certsOfAnotherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	caPEM, _, err := certs.NewCA("another CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		t.Fatal(errors.New("cannot load the other CA"))
	}
	return p
}
