package plugin

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// Hidden stands for the password wherever it is not shown.
const Hidden = "********"

// Connection is what a client needs to reach a RedisFailover, as the
// operator reports it in the status and the connection Secret.
type Connection struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// RedisURL is REDIS_URL without the password.
	RedisURL string `json:"redisURL"`
	// MasterName is the name the sentinels know the RedisFailover by.
	MasterName string `json:"masterName"`
	// Sentinels are host:port of the sentinels' Service.
	Sentinels []string `json:"sentinels"`
	// Auth tells whether a password is required (by the instances, the
	// proxies and the sentinels alike).
	Auth bool `json:"auth"`
	// Secret is the connection Secret, whose keys are environment
	// variables (REDIS_URL, REDIS_PASSWORD, ...).
	Secret string `json:"secret"`
	// Password is the password in force; empty unless it was asked for.
	Password string `json:"-"`
}

// HostPort splits a host:port.
func HostPort(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// connectionOf reads the endpoints the operator reported for rf. It
// fails, saying why, while the operator has reported none.
func connectionOf(rf *haredisv1.RedisFailover) (*Connection, error) {
	ep := rf.Status.Endpoints
	if ep.RedisURL == "" || ep.Sentinel == "" || rf.Status.MasterName == "" {
		if err := NoPrimary(rf); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("RedisFailover %s has no endpoints in its status yet: the operator has not reported them (is it running?)", rf.Name)
	}
	return &Connection{
		Name: rf.Name, Namespace: rf.Namespace,
		RedisURL: ep.RedisURL, MasterName: rf.Status.MasterName, Sentinels: []string{ep.Sentinel},
		Auth: rf.AuthEnabled(), Secret: rf.ConnectionSecretName(),
	}, nil
}

// readSecret reads the connection Secret of conn.
func readSecret(ctx context.Context, c client.Reader, conn *Connection) (map[string][]byte, error) {
	s := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: conn.Namespace, Name: conn.Secret}, s)
	switch {
	case err == nil:
		return s.Data, nil
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("the connection Secret %s of RedisFailover %s does not exist yet; the operator writes it once the RedisFailover is reconciled", conn.Secret, conn.Name)
	default:
		return nil, explain(err, "get", "secrets", conn.Namespace, "Secret "+conn.Secret)
	}
}

// maskedURL is the Redis URL raw with the password shown as Hidden.
func maskedURL(raw string) string {
	return unmask(specs.URLWithPassword(raw, specs.DefaultUser, placeholder))
}
