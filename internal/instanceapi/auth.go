package instanceapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// TokenKey is the key of the manager token in the Secret the operator
// generates for a RedisFailover (mounted into its Redis pods).
const TokenKey = "manager-token"

// Public paths answer without the token: the kubelet's probes carry none.
var Public = map[string]bool{"/healthz": true, "/readyz": true}

// Authorized tells whether r carries token as its bearer credential. An
// empty token authorizes nothing: a manager without its credential refuses
// every request but the probes.
func Authorized(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
