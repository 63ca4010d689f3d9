package sentinel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrWrongPassword: the sentinel refused the password (WRONGPASS, or
// NOAUTH from one that requires another).
var ErrWrongPassword = errors.New("the sentinel refuses the password")

// Accepts tells whether the sentinel at addr takes password (nil), refuses
// it (ErrWrongPassword), or cannot be asked (another error).
func Accepts(ctx context.Context, addr string, a Access) error {
	sc := Dial(addr, a)
	defer sc.Close()
	err := sc.Ping(ctx).Err()
	if isAuthError(err) {
		return ErrWrongPassword
	}
	return err
}

func isAuthError(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "WRONGPASS") || strings.Contains(s, "NOAUTH") || strings.Contains(s, "invalid password")
}

// SetPasswords makes the sentinel at addr, reached with a, take the
// given passwords from its clients and peers (the default user's, which
// requirepass sets; previousHash is a SHA-256 in hex, "" for none) and,
// when peer is set, give its peers that one (sentinel-pass). Both are
// live: no restart.
func SetPasswords(ctx context.Context, addr string, a Access, password, previousHash, peer string) error {
	sc := plainClient(addr, a)
	defer sc.Close()
	args := []any{"ACL", "SETUSER", "default", "on", "resetpass", ">" + password}
	if previousHash != "" {
		args = append(args, "#"+previousHash)
	}
	if err := sc.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("cannot set the passwords of sentinel %s: %w", addr, err)
	}
	if peer == "" {
		return nil
	}
	// The connection stays authenticated after the ACL change.
	return setPeer(ctx, sc, addr, peer)
}

// PeerPassword is the password the sentinel at addr, reached with a,
// gives its peers (SENTINEL CONFIG GET sentinel-pass).
func PeerPassword(ctx context.Context, addr string, a Access) (string, error) {
	sc := plainClient(addr, a)
	defer sc.Close()
	v, err := sc.Do(ctx, "SENTINEL", "CONFIG", "GET", "sentinel-pass").StringSlice()
	if err != nil {
		return "", fmt.Errorf("cannot ask sentinel %s for the password it gives its peers: %w", addr, err)
	}
	if len(v) != 2 {
		return "", fmt.Errorf("cannot read the password sentinel %s gives its peers: %d elements", addr, len(v))
	}
	return v[1], nil
}

// SetPeerPassword makes the sentinel at addr, reached with a, give its
// peers a.Password (sentinel-pass).
func SetPeerPassword(ctx context.Context, addr string, a Access) error {
	sc := plainClient(addr, a)
	defer sc.Close()
	return setPeer(ctx, sc, addr, a.Password)
}

func setPeer(ctx context.Context, sc *redis.Client, addr, password string) error {
	if err := sc.Do(ctx, "SENTINEL", "CONFIG", "SET", "sentinel-pass", password).Err(); err != nil {
		return fmt.Errorf("cannot set the password sentinel %s gives its peers: %w", addr, err)
	}
	return nil
}

// plainClient is a client of the sentinel at addr for the commands the
// sentinel client has no method for (ACL, SENTINEL CONFIG).
func plainClient(addr string, a Access) *redis.Client {
	return redis.NewClient(&redis.Options{
		ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer, Addr: addr, Password: a.Password, TLSConfig: a.TLS, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
}
