package controller

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/certs"
)

func TestNeedsRenewal(t *testing.T) {
	now := time.Now()
	ca, caKey, err := certs.NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"app.ns.svc.cluster.local", "*.app-headless.ns.svc.cluster.local"}
	crt, key, err := certs.Issue(ca, caKey, names, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	newCA, _, _ := certs.NewCA("new", now)
	data := map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: ca}
	bundle := map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: joinPEM(newCA, ca)}
	for name, tc := range map[string]struct {
		data  map[string][]byte
		ca    []byte
		names []string
		at    time.Time
		want  string
	}{
		"fresh":                      {data, ca, names, now, ""},
		"fresh, trusting two CAs":    {bundle, ca, names, now, ""},
		"two thirds of its life":     {data, ca, names, now.Add(61 * 24 * time.Hour), "two thirds"},
		"expired":                    {data, ca, names, now.Add(91 * 24 * time.Hour), "not valid"},
		"a Service it does not name": {data, ca, append(names, "app-proxy.ns.svc.cluster.local"), now, "does not name"},
		"a new CA":                   {data, newCA, names, now, "the CA changed"},
		"signed by the other of two": {bundle, newCA, names, now, "not signed by the current CA"},
		"no key":                     {map[string][]byte{certs.CertKey: crt, certs.CAKey: ca}, ca, names, now, "has no tls.key"},
	} {
		t.Run(name, func(t *testing.T) {
			renew, why := needsRenewal(tc.data, tc.ca, tc.names, tc.at)
			if tc.want == "" {
				if renew {
					t.Fatalf("renews (%s), want it kept", why)
				}
				return
			}
			if !renew || !strings.Contains(why, tc.want) {
				t.Fatalf("needsRenewal = %v %q, want a renewal because %q", renew, why, tc.want)
			}
		})
	}
}

// TestNextCertificateStep: a new CA is trusted first, next to the old one,
// and signs the certificate only TrustSpread later.
func TestNextCertificateStep(t *testing.T) {
	now := time.Now()
	names := []string{"app.ns.svc.cluster.local"}
	oldCA, oldKey, _ := certs.NewCA("old", now)
	newCA, _, _ := certs.NewCA("new", now)
	crt, key, err := certs.Issue(oldCA, oldKey, names, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(ca []byte, since string) *corev1.Secret {
		s := &corev1.Secret{Data: map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: ca}}
		if since != "" {
			s.Annotations = map[string]string{haredisv1.AnnotationTrustedSince: since}
		}
		return s
	}
	stamp := now.UTC().Format(time.RFC3339)
	for name, tc := range map[string]struct {
		leaf *corev1.Secret
		ca   []byte
		at   time.Time
		want int
	}{
		"none":                              {nil, oldCA, now, certIssue},
		"current":                           {secret(oldCA, ""), oldCA, now, certKeep},
		"a new CA: trust it first":          {secret(oldCA, ""), newCA, now, certTrustNewCA},
		"trusted for a moment: keep":        {secret(joinPEM(newCA, oldCA), stamp), newCA, now.Add(time.Minute), certKeep},
		"trusted long enough: issue":        {secret(joinPEM(newCA, oldCA), stamp), newCA, now.Add(TrustSpread + time.Second), certIssue},
		"trusted, no record of since when":  {secret(joinPEM(newCA, oldCA), ""), newCA, now, certIssue},
		"expired under a new CA: issue now": {secret(oldCA, ""), newCA, now.Add(certs.ServerLifetime + time.Hour), certIssue},
		"two thirds of its life: issue":     {secret(oldCA, ""), oldCA, now.Add(61 * 24 * time.Hour), certIssue},
	} {
		t.Run(name, func(t *testing.T) {
			if got, why := nextCertificateStep(tc.leaf, tc.ca, names, tc.at); got != tc.want {
				t.Fatalf("step %d (%s), want %d", got, why, tc.want)
			}
		})
	}
}
