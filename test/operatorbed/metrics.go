package operatorbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// MetricsReaderRole is the ClusterRole config/ installs for whatever
// scrapes the operator's metrics.
const MetricsReaderRole = "haredis-operator-metrics-reader"

// ServiceAccountToken creates the ServiceAccount name in ns (or reuses it)
// and returns a token of it valid for an hour.
func (e *Env) ServiceAccountToken(ctx context.Context, ns, name string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := e.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("cannot create the service account %s/%s: %w", ns, name, err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := e.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("cannot get a token of %s/%s: %w", ns, name, err)
	}
	return tr.Status.Token, nil
}

// BindClusterRole binds the ClusterRole role to the ServiceAccount sa of
// ns, with a ClusterRoleBinding named NS-SA; it returns the binding.
func (e *Env) BindClusterRole(ctx context.Context, ns, sa, role string) (*rbacv1.ClusterRoleBinding, error) {
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + sa},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}}}
	if err := e.Client.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("cannot bind %s to %s/%s: %w", role, ns, sa, err)
	}
	return b, nil
}

// MetricsReaderToken is a token that may read the operator's metrics, as
// Prometheus's would be: of a service account in the operator's namespace
// bound to MetricsReaderRole.
func (e *Env) MetricsReaderToken(ctx context.Context) (string, error) {
	const sa = "metrics-reader"
	if _, err := e.BindClusterRole(ctx, OperatorNamespace, sa, MetricsReaderRole); err != nil {
		return "", err
	}
	return e.ServiceAccountToken(ctx, OperatorNamespace, sa)
}

// MetricsHTTPClient reaches pods from inside the bed and accepts the
// operator's self-signed certificate: what is checked is who may read,
// not who serves.
func (e *Env) MetricsHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: e.Dial,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the operator's self-signed certificate
}
