package specs

import (
	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/certs"
)

// TLSNames are the host names the certificate of rf must carry: every
// Service clients use, in its short and long forms, and the stable names
// of the instances and sentinels (one wildcard per headless Service).
func TLSNames(rf *haredisv1.RedisFailover) []string {
	var out []string
	for _, svc := range []string{rf.ServiceName(), rf.PrimaryServiceName(), rf.ReplicasServiceName(), rf.SentinelServiceName()} {
		long := ServiceHost(rf, svc)
		out = append(out, long, svc+"."+rf.Namespace+".svc", svc+"."+rf.Namespace, svc)
	}
	for _, headless := range []string{rf.HeadlessServiceName(), SentinelHeadlessServiceName(rf)} {
		out = append(out, "*."+ServiceHost(rf, headless))
	}
	return append(out, "localhost")
}

// TLSSecret is NAME-tls, the certificate the operator issues (spec.tls
// without secretName), in the form cert-manager writes.
func TLSSecret(rf *haredisv1.RedisFailover, certPEM, keyPEM, caPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: objectMeta(rf, rf.TLSSecretName(), ComponentRedis),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{certs.CertKey: certPEM, certs.KeyKey: keyPEM, certs.CAKey: caPEM},
	}
}

// TLSCASecret is NAME-tls-ca, the CA that issues NAME-tls. No pod mounts
// it.
func TLSCASecret(rf *haredisv1.RedisFailover, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: objectMeta(rf, rf.TLSCASecretName(), ComponentRedis),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{certs.CertKey: certPEM, certs.KeyKey: keyPEM},
	}
}
