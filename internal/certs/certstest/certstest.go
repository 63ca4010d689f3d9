// Package certstest writes a CA and a server certificate for tests that
// run real servers with TLS on loopback.
package certstest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/certs"
)

// Dir is a certificate directory as a pod mounts it.
type Dir struct {
	Path            string
	CAPEM, CAKeyPEM []byte
}

// New writes ca.crt, tls.crt and tls.key into a temporary directory: a
// new CA and a certificate it signs for localhost, 127.0.0.1 and dnsNames.
func New(t testing.TB, dnsNames ...string) *Dir {
	t.Helper()
	caPEM, caKey, err := certs.NewCA("haredis test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := &Dir{Path: t.TempDir(), CAPEM: caPEM, CAKeyPEM: caKey}
	d.Renew(t, dnsNames...)
	return d
}

// Renew writes a newly issued certificate (and the CA) into the directory,
// replacing the files at once as the kubelet does.
func (d *Dir) Renew(t testing.TB, dnsNames ...string) {
	t.Helper()
	crt, key, err := certs.Issue(d.CAPEM, d.CAKeyPEM, append([]string{"localhost"}, dnsNames...),
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: d.CAPEM} {
		tmp := filepath.Join(d.Path, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(d.Path, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// Files returns the directory as the pods read it.
func (d *Dir) Files() *certs.Files { return certs.NewFiles(d.Path) }
