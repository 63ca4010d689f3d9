package integration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
)

// TestIssuedCertificate: spec.tls without a Secret of the user's makes the
// operator issue NAME-tls from its CA NAME-tls-ca, naming every Service;
// the pods mount it, NAME-connection gives rediss:// URLs and the CA.
func TestIssuedCertificate(t *testing.T) {
	ns := newNamespace(t, "tlsissued")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		rf.Spec.TLS = &haredisv1.TLSSpec{Enabled: true}
	})
	var leaf *corev1.Secret
	redistest.WaitFor(t, 30*time.Second, "NAME-tls, NAME-connection and the pods", func(ctx context.Context) error {
		leaf = &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-tls"}, leaf); err != nil {
			return err
		}
		conn := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-connection"}, conn); err != nil {
			return err
		}
		if !strings.HasPrefix(string(conn.Data[specs.ConnURL]), "rediss://") || string(conn.Data[specs.ConnCA]) != string(leaf.Data[certs.CAKey]) {
			return fmt.Errorf("NAME-connection has %s=%s and a CA of %d bytes", specs.ConnURL, conn.Data[specs.ConnURL], len(conn.Data[specs.ConnCA]))
		}
		return podsExist(ctx, ns, "app-1")
	})
	b, err := certs.Check(leaf.Data, time.Now())
	if err != nil {
		t.Fatalf("the issued Secret: %v", err)
	}
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	if !certs.Covers(b.Leaf, specs.TLSNames(rf)) {
		t.Errorf("the issued certificate names %v, want %v", b.Leaf.DNSNames, specs.TLSNames(rf))
	}
	ca := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-tls-ca"}, ca); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(ca.Data[certs.CertKey])
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !caCert.IsCA || b.Leaf.CheckSignatureFrom(caCert) != nil {
		t.Fatalf("NAME-tls is not signed by NAME-tls-ca (%v)", err)
	}
	pod := &corev1.Pod{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-1"}, pod); err != nil {
		t.Fatal(err)
	}
	mounted := false
	for _, v := range pod.Spec.Volumes {
		mounted = mounted || (v.Secret != nil && v.Secret.SecretName == "app-tls")
	}
	if !mounted {
		t.Error("pod app-1 does not mount app-tls")
	}

	// A lost CA: a new one, which NAME-tls trusts next to the old one
	// while it keeps its certificate (the new CA's replaces it once every
	// pod had the time to read the new ca.crt: TestNextCertificateStep).
	if err := k8sClient.Delete(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "a new CA, trusted next to the old one", func(ctx context.Context) error {
		now := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-tls-ca"}, now); err != nil {
			return err
		}
		if string(now.Data[certs.CertKey]) == string(ca.Data[certs.CertKey]) {
			return errors.New("the CA is the old one")
		}
		l := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-tls"}, l); err != nil {
			return err
		}
		if c := strings.Count(string(l.Data[certs.CAKey]), "BEGIN CERTIFICATE"); c != 2 {
			return fmt.Errorf("NAME-tls's ca.crt holds %d certificates, want the new CA and the old one", c)
		}
		if _, err := certs.Check(l.Data, time.Now()); err != nil {
			return err
		}
		if string(l.Data[certs.CertKey]) != string(leaf.Data[certs.CertKey]) {
			return errors.New("the certificate was replaced before the pods could trust the new CA")
		}
		if l.Annotations[haredisv1.AnnotationTrustedSince] == "" {
			return errors.New("NAME-tls does not say since when it trusts the new CA")
		}
		return nil
	})
}

// TestUserCertificateIsChecked: a missing or wrong Secret of the user's
// keeps a new RedisFailover from starting pods and says what to fix.
func TestUserCertificateIsChecked(t *testing.T) {
	ns := newNamespace(t, "tlsuser")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		rf.Spec.TLS = &haredisv1.TLSSpec{Enabled: true, SecretName: "app-cert"}
	})
	waitReason := func(reason string, inMessage ...string) {
		t.Helper()
		redistest.WaitFor(t, 30*time.Second, "Ready False, "+reason, func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
			if c == nil || c.Reason != reason {
				return fmt.Errorf("condition %+v", c)
			}
			for _, m := range inMessage {
				if !strings.Contains(c.Message, m) {
					return fmt.Errorf("message %q lacks %q", c.Message, m)
				}
			}
			return nil
		})
	}
	waitReason(haredisv1.ReasonTLSSecretMissing, "spec.tls.secretName", "Secret app-cert not found", "cert-manager")

	now := time.Now()
	caPEM, caKey, err := certs.NewCA("user CA", now)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _, _ := certs.NewCA("another CA", now)
	crt, key, err := certs.Issue(caPEM, caKey, []string{"app.ns"}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-cert"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{certs.CertKey: crt, certs.KeyKey: key, certs.CAKey: otherCA}}
	if err := k8sClient.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitReason(haredisv1.ReasonTLSSecretInvalid, "Secret app-cert", "not valid under ca.crt")
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-1"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod app-1 exists (err %v) although the certificate is wrong", err)
	}

	secret.Data[certs.CAKey] = caPEM
	if err := k8sClient.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "pods, and CertificateReady naming the missing Services", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionCertificateReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != haredisv1.ReasonCertificateNamesMissing ||
			!strings.Contains(c.Message, "app-primary."+ns+".svc.cluster.local") {
			return fmt.Errorf("condition %+v", c)
		}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-tls"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("haredis issued app-tls (err %v) although the user gives the certificate", err)
		}
		return podsExist(ctx, ns, "app-1")
	})
}
