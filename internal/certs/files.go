// Package certs holds haredis's TLS rules in one place: the keys of a
// certificate Secret (the names cert-manager writes), the CA and the
// server certificates the operator issues when the user brings none, the
// checks of a user's Secret, and the tls.Config of every client and server
// that speaks TLS to an instance, a sentinel or a proxy.
//
// Every party verifies the peer's chain against the RedisFailover's CA
// (ca.crt) and not its host name: instances, sentinels and the operator
// reach each other by pod IP or by names that change with the topology,
// exactly as Redis itself verifies its replication and Sentinel links.
// Clients outside the RedisFailover verify the host name as usual; the
// certificate names every Service.
package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Keys of a TLS Secret, as cert-manager writes them.
const (
	CertKey = "tls.crt"
	KeyKey  = "tls.key"
	CAKey   = "ca.crt"
)

// MountDir is where every pod of a RedisFailover with TLS mounts its
// certificate Secret.
const MountDir = "/etc/haredis/tls"

// Files reads a mounted certificate Secret. It reads the files again when
// they change, so that a renewed certificate is served and a new CA
// trusted at the next handshake, without a restart.
type Files struct {
	Dir string

	mu      sync.Mutex
	certSum string
	cert    *tls.Certificate
	caSum   string
	caPool  *x509.CertPool
}

// NewFiles reads the certificate Secret mounted in dir.
func NewFiles(dir string) *Files { return &Files{Dir: dir} }

// Path returns the path of one key of the Secret (CertKey, KeyKey, CAKey).
func (f *Files) Path(key string) string { return filepath.Join(f.Dir, key) }

// Fingerprint is a digest of the three files: it changes when the kubelet
// writes a renewed certificate or a new CA.
func (f *Files) Fingerprint() (string, error) {
	h := sha256.New()
	for _, k := range []string{CertKey, KeyKey, CAKey} {
		b, err := os.ReadFile(f.Path(k))
		if err != nil {
			return "", fmt.Errorf("cannot read the TLS certificate: %w", err)
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Certificate returns the key pair in the files, loaded again when they
// changed.
func (f *Files) Certificate() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(f.Path(CertKey))
	if err != nil {
		return nil, fmt.Errorf("cannot read the TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(f.Path(KeyKey))
	if err != nil {
		return nil, fmt.Errorf("cannot read the TLS key: %w", err)
	}
	sum := digest(certPEM, keyPEM)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cert != nil && f.certSum == sum {
		return f.cert, nil
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The kubelet swaps the files at once; a pair that does not match
		// is a Secret whose tls.crt and tls.key do not belong together.
		if f.cert != nil {
			return f.cert, nil
		}
		return nil, fmt.Errorf("cannot load the TLS key pair in %s: %w", f.Dir, err)
	}
	f.cert, f.certSum = &c, sum
	return f.cert, nil
}

// Pool returns the CA in ca.crt, loaded again when it changed.
func (f *Files) Pool() (*x509.CertPool, error) {
	caPEM, err := os.ReadFile(f.Path(CAKey))
	if err != nil {
		return nil, fmt.Errorf("cannot read the TLS CA: %w", err)
	}
	sum := digest(caPEM)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.caPool != nil && f.caSum == sum {
		return f.caPool, nil
	}
	p, err := poolOf(caPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot load the TLS CA %s: %w", f.Path(CAKey), err)
	}
	f.caPool, f.caSum = p, sum
	return p, nil
}

// ClientConfig is the tls.Config of a client of the RedisFailover's
// instances, sentinels or proxies: it verifies the server's chain against
// ca.crt (read again when it changes) and presents the pod's certificate
// when the server asks for one.
func (f *Files) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // the chain is verified by VerifyConnection, the host name is not
		VerifyConnection: func(cs tls.ConnectionState) error {
			pool, err := f.Pool()
			if err != nil {
				return err
			}
			return verifyChain(cs, pool)
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := f.Certificate()
			if err != nil {
				return &tls.Certificate{}, nil // no certificate; the server decides
			}
			return c, nil
		},
	}
}

// ServerConfig is the tls.Config of a server (the proxy): it serves the
// certificate in the files, loaded again when they change, and does not ask
// clients for one.
func (f *Files) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return f.Certificate()
		},
	}
}

// ClientConfig is the tls.Config of a client that knows the CA from a
// Secret (the operator): it verifies the server's chain against caPEM, not
// its host name.
func ClientConfig(caPEM []byte) (*tls.Config, error) {
	pool, err := poolOf(caPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // the chain is verified by VerifyConnection, the host name is not
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs, pool)
		},
	}, nil
}

func verifyChain(cs tls.ConnectionState, pool *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server presented no TLS certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("the server's TLS certificate is not signed by the RedisFailover's CA: %w", err)
	}
	return nil
}

func poolOf(caPEM []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ca.crt holds no PEM certificate")
	}
	return p, nil
}

func digest(parts ...[]byte) string {
	h := sha256.Sum256(bytes.Join(parts, []byte{0}))
	return hex.EncodeToString(h[:])
}
