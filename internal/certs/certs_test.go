package certs_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
)

func TestCheckNamesWhatIsWrong(t *testing.T) {
	now := time.Now()
	ca, caKey, err := certs.NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := certs.Issue(ca, caKey, []string{"app.ns.svc.cluster.local", "*.app-headless.ns.svc.cluster.local"}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, otherKey, _ := certs.NewCA("other", now)
	_, strangerKey, _ := certs.Issue(otherCA, otherKey, []string{"x"}, nil, now)

	good := map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: ca}
	b, err := certs.Check(good, now)
	if err != nil {
		t.Fatalf("a certificate the CA issued is refused: %v", err)
	}
	if !certs.Covers(b.Leaf, []string{"app.ns.svc.cluster.local", "app-1.app-headless.ns.svc.cluster.local"}) {
		t.Error("the certificate does not cover its own names")
	}
	if certs.Covers(b.Leaf, []string{"other.ns.svc.cluster.local"}) {
		t.Error("the certificate covers a name it does not carry")
	}
	if renew := certs.RenewAt(b.Leaf); renew.Before(now.Add(55*24*time.Hour)) || renew.After(now.Add(61*24*time.Hour)) {
		t.Errorf("renewal at %s, want about 60 days from now", renew)
	}

	for name, tc := range map[string]struct {
		data map[string][]byte
		at   time.Time
		want string
	}{
		"no ca.crt":      {map[string][]byte{certs.CertKey: crt, certs.KeyKey: key}, now, "has no ca.crt"},
		"no tls.key":     {map[string][]byte{certs.CertKey: crt, certs.CAKey: ca}, now, "has no tls.key"},
		"key of another": {map[string][]byte{certs.CertKey: crt, certs.KeyKey: strangerKey, certs.CAKey: ca}, now, "do not form a key pair"},
		"another CA":     {map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: otherCA}, now, "not valid under ca.crt"},
		"expired":        {good, now.Add(certs.ServerLifetime + time.Hour), "not valid under ca.crt"},
		"ca.crt not PEM": {map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: []byte("nonsense")}, now, "ca.crt holds no PEM"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := certs.Check(tc.data, tc.at)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestFilesFollowRenewal serves TLS from mounted files and renews them: the
// next handshake shows the new certificate, and a client that trusts
// another CA is refused.
func TestFilesFollowRenewal(t *testing.T) {
	d := certstest.New(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", d.Files().ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	client := d.Files().ClientConfig()
	serial := func(cfg *tls.Config) (string, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	first, err := serial(client)
	if err != nil {
		t.Fatalf("a client that trusts the CA is refused: %v", err)
	}
	d.Renew(t)
	second, err := serial(client)
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	if first == second {
		t.Fatal("the renewed certificate is not served")
	}
	other := certstest.New(t)
	if _, err := serial(other.Files().ClientConfig()); err == nil {
		t.Fatal("a client that trusts another CA accepted the server")
	}
	cfg, err := certs.ClientConfig(d.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serial(cfg); err != nil {
		t.Fatalf("a client with the CA from a Secret is refused: %v", err)
	}
}
