package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Lifetimes of what the operator issues. A server certificate is renewed
// once two thirds of its life have passed (RenewAt), so a month is left to
// every pod to read the new one.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 90 * 24 * time.Hour
)

// NewCA creates a self-signed CA named commonName.
func NewCA(commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate the CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"haredis"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create the CA certificate: %w", err)
	}
	return encode(der, key)
}

// Issue signs a server certificate, also good for client authentication
// (a replica presents it to its primary), for dnsNames and ips with the
// CA in caCertPEM and caKeyPEM.
func Issue(caCertPEM, caKeyPEM []byte, dnsNames []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	ca, err := tls.X509KeyPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot load the CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("cannot parse the CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate the server key: %w", err)
	}
	cn := "haredis"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"haredis"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	if tmpl.NotAfter.After(caCert.NotAfter) {
		tmpl.NotAfter = caCert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot sign the server certificate: %w", err)
	}
	return encode(der, key)
}

// Bundle is a checked certificate Secret.
type Bundle struct {
	Leaf     *x509.Certificate
	CAPEM    []byte
	NotAfter time.Time
}

// Check verifies a certificate Secret's data: the three keys are there, the
// key belongs to the certificate, the certificate is signed by ca.crt and
// valid now. Its error names the key at fault and the fix.
func Check(data map[string][]byte, now time.Time) (*Bundle, error) {
	for _, k := range []string{CertKey, KeyKey, CAKey} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("has no %s; a certificate Secret holds tls.crt, tls.key and ca.crt (cert-manager's Certificate writes all three)", k)
		}
	}
	pair, err := tls.X509KeyPair(data[CertKey], data[KeyKey])
	if err != nil {
		return nil, fmt.Errorf("tls.crt and tls.key do not form a key pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tls.crt cannot be parsed: %v", err)
	}
	pool, err := poolOf(data[CAKey])
	if err != nil {
		return nil, errors.New("ca.crt holds no PEM certificate")
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("tls.crt is not valid under ca.crt: %v", err)
	}
	if !usableBy(leaf, x509.ExtKeyUsageServerAuth) || !usableBy(leaf, x509.ExtKeyUsageClientAuth) {
		return nil, errors.New("tls.crt must allow both server and client authentication (a replica presents it to its primary); add usages \"server auth\" and \"client auth\" to the Certificate")
	}
	return &Bundle{Leaf: leaf, CAPEM: data[CAKey], NotAfter: leaf.NotAfter}, nil
}

func usableBy(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	return len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, u) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// RenewAt is when the operator issues a server certificate again: once
// two thirds of its life have passed.
func RenewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// Covers reports whether c names every one of dnsNames.
func Covers(c *x509.Certificate, dnsNames []string) bool {
	for _, n := range dnsNames {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return n
}

func encode(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot encode the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
