package controller

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/specs"
)

// CertificateExpiryWarning is how long before its end a user's certificate
// turns CertificateReady False.
const CertificateExpiryWarning = 14 * 24 * time.Hour

// tlsState is what reconcileTLS learnt for the status.
type tlsState struct {
	// caPEM is the CA the servers' certificates chain to; NAME-connection
	// gives it to applications.
	caPEM  []byte
	ready  bool
	reason string
	msg    string
}

// reconcileTLS makes the certificate every pod mounts ready (spec.tls):
// issued by haredis's CA into NAME-tls and renewed when two thirds of its
// life have passed, or the user's Secret checked. It gives the operator's
// own clients the CA. A user's Secret that is missing or invalid blocks a
// RedisFailover whose pods do not exist yet; running pods keep the
// certificate they read, and the status says what to fix.
func (r *RedisFailoverReconciler) reconcileTLS(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if !rf.TLSEnabled() {
		return ctrl.Result{}, nil
	}
	var err error
	if rf.TLSIssued() {
		err = r.issueCertificate(ctx, rf, st, time.Now())
	} else {
		err = r.checkUserCertificate(ctx, rf, st, time.Now())
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	unusable := st.tlsInfo.reason == haredisv1.ReasonTLSSecretMissing || st.tlsInfo.reason == haredisv1.ReasonTLSSecretInvalid
	if unusable {
		running, err := r.podsRunning(ctx, rf)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !running {
			// No pod would start with it.
			return r.blocked(ctx, rf, st.tlsInfo.reason, st.tlsInfo.msg)
		}
	}
	if len(st.tlsInfo.caPEM) == 0 {
		// Running pods keep the files they mounted; the operator trusts
		// the CA it last gave applications.
		st.tlsInfo.caPEM = r.connectionCA(ctx, rf)
	}
	if len(st.tlsInfo.caPEM) > 0 {
		if st.tls, err = certs.ClientConfig(st.tlsInfo.caPEM); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot use the CA of %s: %w", rf.TLSSecretName(), err)
		}
	}
	return ctrl.Result{}, nil
}

// TrustSpread is how long a new CA is trusted (in NAME-tls's ca.crt) before
// the certificate it signs replaces the old one: the kubelets refresh
// mounted Secrets within about a minute, so by then every pod trusts both.
const TrustSpread = 2 * time.Minute

// issueCertificate keeps NAME-tls-ca and NAME-tls. A lost CA is replaced
// in two steps, so that no pod ever meets a certificate it does not
// trust: NAME-tls first keeps its certificate and trusts the new CA next to
// the old one; TrustSpread later the new CA's certificate replaces it,
// still trusting both.
func (r *RedisFailoverReconciler) issueCertificate(ctx context.Context, rf *haredisv1.RedisFailover, st *state, now time.Time) error {
	ca, err := r.ownedSecret(ctx, rf.Namespace, rf.TLSCASecretName())
	if err != nil {
		return err
	}
	leaf, err := r.ownedSecret(ctx, rf.Namespace, rf.TLSSecretName())
	if err != nil {
		return err
	}
	var caCert, caKey []byte
	if ca != nil {
		caCert, caKey = ca.Data[certs.CertKey], ca.Data[certs.KeyKey]
	}
	if len(caCert) == 0 || len(caKey) == 0 {
		if caCert, caKey, err = certs.NewCA(rf.Namespace+"/"+rf.Name+" haredis CA", now); err != nil {
			return err
		}
		want := specs.TLSCASecret(rf, caCert, caKey)
		obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
		if _, err := r.createOrUpdate(ctx, obj, want, func() { obj.Data = want.Data; obj.Type = want.Type }); err != nil {
			return fmt.Errorf("cannot write the CA Secret %s: %w", want.Name, err)
		}
		log.FromContext(ctx).Info("created the CA that issues the TLS certificate", "secret", want.Name)
	}
	write := func(crt, key, trust []byte, trustedSince string, why string) error {
		want := specs.TLSSecret(rf, crt, key, trust)
		if trustedSince != "" {
			want.Annotations = map[string]string{haredisv1.AnnotationTrustedSince: trustedSince}
		}
		obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
		if _, err := r.createOrUpdate(ctx, obj, want, func() { obj.Data = want.Data; obj.Type = want.Type; obj.Annotations = want.Annotations }); err != nil {
			return fmt.Errorf("cannot write the TLS Secret %s: %w", want.Name, err)
		}
		leaf = want
		log.FromContext(ctx).Info("wrote the TLS Secret", "secret", want.Name, "why", why)
		return nil
	}
	trust := caCert
	switch step, why := nextCertificateStep(leaf, caCert, specs.TLSNames(rf), now); step {
	case certTrustNewCA:
		// The pods keep serving the certificate they have while they
		// learn to trust the new CA.
		trust = joinPEM(caCert, leaf.Data[certs.CAKey])
		if err := write(leaf.Data[certs.CertKey], leaf.Data[certs.KeyKey], trust, now.UTC().Format(time.RFC3339), why); err != nil {
			return err
		}
	case certIssue:
		if leaf != nil && bytes.Contains(leaf.Data[certs.CAKey], bytes.TrimSpace(caCert)) {
			trust = leaf.Data[certs.CAKey] // every CA it trusts, the current one among them
		}
		crt, key, err := certs.Issue(caCert, caKey, specs.TLSNames(rf), nil, now)
		if err != nil {
			return err
		}
		if err := write(crt, key, trust, "", why); err != nil {
			return err
		}
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventCertificateIssued, "Issue",
			"issued the TLS certificate %s (%s), valid %s", rf.TLSSecretName(), why, certs.ServerLifetime)
	default:
		trust = leaf.Data[certs.CAKey]
	}
	st.tlsInfo = tlsState{caPEM: trust, ready: true, reason: haredisv1.ReasonCertificateIssued,
		msg: fmt.Sprintf("haredis issues %s from its CA %s", rf.TLSSecretName(), rf.TLSCASecretName())}
	if b, err := certs.Check(leaf.Data, now); err == nil {
		st.tlsInfo.msg += fmt.Sprintf("; valid until %s, renewed after %s", b.NotAfter.UTC().Format(time.RFC3339), certs.RenewAt(b.Leaf).UTC().Format(time.RFC3339))
	}
	return nil
}

// Steps of issueCertificate.
const (
	certKeep = iota
	certTrustNewCA
	certIssue
)

// nextCertificateStep says what NAME-tls (leaf, nil when missing) needs
// under the CA caCert, and why.
func nextCertificateStep(leaf *corev1.Secret, caCert []byte, names []string, now time.Time) (int, string) {
	if leaf == nil {
		return certIssue, "no certificate yet"
	}
	renew, why := needsRenewal(leaf.Data, caCert, names, now)
	if !renew {
		return certKeep, ""
	}
	if _, err := certs.Check(leaf.Data, now); err != nil {
		return certIssue, why // nothing worth keeping
	}
	if !bytes.Contains(leaf.Data[certs.CAKey], bytes.TrimSpace(caCert)) {
		return certTrustNewCA, why
	}
	if since, err := time.Parse(time.RFC3339, leaf.Annotations[haredisv1.AnnotationTrustedSince]); err == nil && now.Before(since.Add(TrustSpread)) &&
		why == whyOtherCA {
		return certKeep, ""
	}
	return certIssue, why
}

const whyOtherCA = "the certificate is not signed by the current CA"

// needsRenewal says whether the operator issues NAME-tls again, and why.
func needsRenewal(data map[string][]byte, caCert []byte, names []string, now time.Time) (bool, string) {
	b, err := certs.Check(data, now)
	switch {
	case err != nil:
		return true, "the certificate in the Secret " + err.Error()
	case !bytes.Contains(data[certs.CAKey], bytes.TrimSpace(caCert)):
		return true, "the CA changed"
	case !signedBy(b.Leaf, caCert):
		return true, whyOtherCA
	case !certs.Covers(b.Leaf, names):
		return true, "the certificate does not name every Service"
	case !now.Before(certs.RenewAt(b.Leaf)):
		return true, "two thirds of its life have passed"
	}
	return false, ""
}

func signedBy(leaf *x509.Certificate, caPEM []byte) bool {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return false
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	return leaf.CheckSignatureFrom(ca) == nil
}

func joinPEM(parts ...[]byte) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		if p = bytes.TrimSpace(p); len(p) > 0 {
			b.Write(p)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// checkUserCertificate reads the user's Secret (spec.tls.secretName). It
// is not cached (only what haredis labels is): it is read at each
// reconcile, so a certificate cert-manager renews is seen within a minute.
func (r *RedisFailoverReconciler) checkUserCertificate(ctx context.Context, rf *haredisv1.RedisFailover, st *state, now time.Time) error {
	name := rf.TLSSecretName()
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: rf.Namespace, Name: name}, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot get the TLS Secret %s: %w", name, err)
		}
		st.tlsInfo = tlsState{reason: haredisv1.ReasonTLSSecretMissing, msg: fmt.Sprintf(
			"spec.tls.secretName: Secret %s not found in namespace %s; create it with tls.crt, tls.key and ca.crt (a cert-manager Certificate with secretName %s writes them), or remove spec.tls.secretName to let haredis issue one", name, rf.Namespace, name)}
		return nil
	}
	b, err := certs.Check(secret.Data, now)
	if err != nil {
		st.tlsInfo = tlsState{reason: haredisv1.ReasonTLSSecretInvalid, msg: fmt.Sprintf(
			"spec.tls.secretName: Secret %s %s", name, err)}
		if _, poolErr := certs.ClientConfig(secret.Data[certs.CAKey]); poolErr == nil {
			st.tlsInfo.caPEM = secret.Data[certs.CAKey]
		}
		return nil
	}
	st.tlsInfo = tlsState{caPEM: b.CAPEM, ready: true, reason: haredisv1.ReasonCertificateProvided,
		msg: fmt.Sprintf("Secret %s holds a certificate valid until %s", name, b.NotAfter.UTC().Format(time.RFC3339))}
	var missing []string
	for _, n := range []string{specs.ServiceHost(rf, rf.ServiceName()), specs.ServiceHost(rf, rf.PrimaryServiceName()), specs.ServiceHost(rf, rf.SentinelServiceName())} {
		if b.Leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
		}
	}
	switch {
	case b.NotAfter.Sub(now) < CertificateExpiryWarning:
		st.tlsInfo.ready, st.tlsInfo.reason = false, haredisv1.ReasonCertificateExpiring
		st.tlsInfo.msg = fmt.Sprintf("the certificate in Secret %s ends at %s; renew it (cert-manager renews it by itself when its Certificate has renewBefore)", name, b.NotAfter.UTC().Format(time.RFC3339))
	case len(missing) > 0:
		st.tlsInfo.ready, st.tlsInfo.reason = false, haredisv1.ReasonCertificateNamesMissing
		st.tlsInfo.msg = fmt.Sprintf("the certificate in Secret %s does not name %s: clients that verify host names refuse it; add them to the Certificate's dnsNames (the pods and the operator verify only the CA, so the RedisFailover itself works)", name, strings.Join(missing, ", "))
	}
	return nil
}

// ownedSecret reads a Secret haredis labels, nil when there is none.
func (r *RedisFailoverReconciler) ownedSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	err := r.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		// Only what carries haredis's labels is cached: ask the API
		// server before taking it for lost.
		err = r.APIReader.Get(ctx, key, s)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot get Secret %s: %w", name, err)
	}
	return s, nil
}

// connectionCA is the CA NAME-connection gives applications, nil when
// there is none.
func (r *RedisFailoverReconciler) connectionCA(ctx context.Context, rf *haredisv1.RedisFailover) []byte {
	s, err := r.ownedSecret(ctx, rf.Namespace, rf.ConnectionSecretName())
	if err != nil || s == nil {
		return nil
	}
	return s.Data[specs.ConnCA]
}
