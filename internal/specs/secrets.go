package specs

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/proxyapi"
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Keys of Secret NAME-connection, named so that `envFrom` gives an
// application its environment directly.
const (
	ConnURL         = "REDIS_URL"
	ConnSentinelURL = "REDIS_SENTINEL_URL"
	ConnHost        = "REDIS_HOST"
	ConnPort        = "REDIS_PORT"
	ConnPassword    = "REDIS_PASSWORD"
	ConnMasterName  = "REDIS_MASTER_NAME"
	ConnSentinels   = "REDIS_SENTINELS"
	// ConnCA is the CA that signs the servers' certificates, with TLS.
	ConnCA = "ca.crt"
)

// GeneratePassword returns 32 random bytes in URL-safe base64, so that it
// can sit in a URL and a redis.conf line without quoting.
func GeneratePassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cannot generate a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// AuthSecret holds the generated password (auth on, no passwordSecret).
func AuthSecret(rf *haredisv1.RedisFailover, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: objectMeta(rf, rf.AuthSecretName(), ComponentRedis),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{PasswordKey: []byte(password)},
	}
}

// InternalSecret holds the password in force (when auth is on), the
// internal users' passwords, the users the RedisFailover declares (hashes
// only), the manager token and the proxies' admin token.
func InternalSecret(rf *haredisv1.RedisFailover, password string, tokens Tokens, internal acl.Passwords, declared []acl.DeclaredUser, rot Rotation) *corev1.Secret {
	data := map[string][]byte{TokenKey: []byte(tokens.Manager), proxyapi.TokenKey: []byte(tokens.Proxy)}
	if password != "" {
		data[PasswordKey] = []byte(password)
	}
	if password != "" && internal.Complete() {
		data[acl.AdminPasswordKey] = []byte(internal.Admin)
		data[acl.ReplicationPasswordKey] = []byte(internal.Replication)
		data[acl.SentinelPasswordKey] = []byte(internal.Sentinel)
		data[acl.DeclaredUsersKey] = acl.EncodeDeclared(declared)
		// Always there, empty outside a rotation: pods mount the key.
		data[acl.PreviousPasswordHashKey] = []byte{}
		data[PreviousPasswordKey] = []byte{}
		if rot.Previous != "" {
			data[acl.PreviousPasswordHashKey] = []byte(acl.Hash(rot.Previous))
			data[PreviousPasswordKey] = []byte(rot.Previous)
			if rot.Until != "" {
				data[PreviousPasswordUntilKey] = []byte(rot.Until)
			}
		}
	}
	return &corev1.Secret{
		ObjectMeta: objectMeta(rf, InternalSecretName(rf), ComponentRedis),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// Rotation is a rotation of the application password under way, as
// Secret NAME-internal records it: the password it replaces (key
// PreviousPasswordKey, which the operator and the proxies read; the
// instances and sentinels mount its hash) and, once the new one is in force everywhere and NAME-connection
// holds it, when the previous one goes (PreviousPasswordUntilKey, RFC
// 3339).
type Rotation struct {
	Previous, Until string
}

// Keys of a rotation in Secret NAME-internal (empty outside one):
// PreviousPasswordKey, which the proxies mount (they authenticate to an
// instance that has not read the new password yet with it), and
// PreviousPasswordUntilKey, which no pod mounts.
const (
	PreviousPasswordKey      = "previous-password"
	PreviousPasswordUntilKey = "previous-password-until"
)

// Tokens are the bearer tokens of a RedisFailover's HTTP endpoints, which
// only the operator holds: the instance managers' and the proxies' admin
// endpoints each take their own, so that a proxy pod cannot call an
// instance manager.
type Tokens struct {
	Manager, Proxy string
}

// ConnectionSecret holds what an application needs to connect; password is
// empty when auth is off, caPEM (the CA to verify the servers with) when
// TLS is.
func ConnectionSecret(rf *haredisv1.RedisFailover, password string, caPEM []byte) *corev1.Secret {
	host := ServiceHost(rf, rf.ServiceName())
	ep := Endpoints(rf)
	data := map[string][]byte{
		ConnURL:         []byte(URLWithPassword(ep.RedisURL, DefaultUser, password)),
		ConnSentinelURL: []byte(URLWithPassword(ep.SentinelURL, "", password)),
		ConnHost:        []byte(host),
		ConnPort:        []byte(strconv.Itoa(RedisPort)),
		ConnMasterName:  []byte(rf.SentinelMasterName()),
		ConnSentinels:   []byte(ep.Sentinel),
	}
	if password != "" {
		data[ConnPassword] = []byte(password)
	}
	if len(caPEM) > 0 {
		data[ConnCA] = caPEM
	}
	return &corev1.Secret{
		ObjectMeta: objectMeta(rf, rf.ConnectionSecretName(), ComponentRedis),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// Endpoints are the addresses reported in status (never with a password).
// The sentinel URL follows the redis+sentinel://HOST:PORT/MASTER form that
// go-redis, Lettuce and redis-py understand; with TLS the URLs are
// rediss:// and rediss+sentinel://.
func Endpoints(rf *haredisv1.RedisFailover) haredisv1.Endpoints {
	hp := func(svc string, port int) string { return net.JoinHostPort(ServiceHost(rf, svc), strconv.Itoa(port)) }
	sentinel := hp(rf.SentinelServiceName(), SentinelPort)
	if ns, name, ok := strings.Cut(rf.Status.SentinelPool, "/"); ok {
		sentinel = PoolEndpoint(ns, name)
	}
	scheme, sentinelScheme := "redis://", "redis+sentinel://"
	if rf.TLSEnabled() {
		scheme, sentinelScheme = "rediss://", "rediss+sentinel://"
	}
	return haredisv1.Endpoints{
		RedisURL:    scheme + hp(rf.ServiceName(), RedisPort),
		Primary:     hp(rf.PrimaryServiceName(), RedisPort),
		Replicas:    hp(rf.ReplicasServiceName(), RedisPort),
		Sentinel:    sentinel,
		SentinelURL: sentinelScheme + sentinel + "/" + rf.SentinelMasterName(),
	}
}

// DefaultUser is the user every password of a RedisFailover belongs to.
const DefaultUser = "default"

// URLWithPassword puts user and password into the userinfo of raw; raw
// itself when password is empty. A Redis URL names the user default: an
// empty user name is read as no user by most clients but sent as the user
// "" by some (redis-cli 7.0), which Redis refuses.
func URLWithPassword(raw, user, password string) string {
	if password == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}
