package controller

import (
	"strings"
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
