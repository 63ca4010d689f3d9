package redisconf

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// OwnedParameters are set by haredis itself and refused in a parameter group.
// It must equal the union of the lists in the CEL rules on RedisSpec in
// api/v1/redisfailover_types.go (a test checks it).
var OwnedParameters = []string{
	// Networking, files and identity.
	"port", "bind", "dir", "dbfilename", "appendfilename", "appenddirname",
	"replicaof", "slaveof", "requirepass", "masterauth", "masteruser",
	"include", "daemonize", "pidfile", "logfile", "unixsocket",
	"unixsocketperm", "protected-mode", "rename-command",
	"replica-announce-ip", "slave-announce-ip", "replica-announce-port",
	"slave-announce-port", "aclfile", "supervised",
	// From spec.durability.
	"min-replicas-to-write", "min-slaves-to-write", "min-replicas-max-lag",
	"min-slaves-max-lag",
	// From spec.redis.persistence.
	"appendonly", "appendfsync",
}

// OwnedPrefix: every parameter that begins with it (tls-port,
// tls-cert-file, ...) comes from spec.tls.
const OwnedPrefix = "tls-"

var owned = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range OwnedParameters {
		m[p] = true
	}
	return m
}()

// IsOwned reports whether haredis sets the parameter itself.
func IsOwned(name string) bool {
	n := strings.ToLower(name)
	return owned[n] || strings.HasPrefix(n, OwnedPrefix)
}

// Redis parameter names are lower-case words joined by dashes; anything else
// could not be a parameter and might confuse the config file parser.
var paramName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// NormalizeGroup lower-cases the names of a parameter group (Redis compares
// them without regard to case) and refuses names that are malformed, owned by
// haredis, or given twice.
func NormalizeGroup(group map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(group))
	var problems []string
	for _, k := range sortedKeys(group) {
		n := strings.ToLower(k)
		switch {
		case !paramName.MatchString(n):
			problems = append(problems, fmt.Sprintf("%q is not a Redis parameter name", k))
		case IsOwned(n):
			problems = append(problems, fmt.Sprintf("%s is set by haredis itself and cannot be configured", n))
		case strings.ContainsAny(group[k], "\r\n"):
			problems = append(problems, fmt.Sprintf("%s: a value must be on one line", n))
		default:
			if _, dup := out[n]; dup {
				problems = append(problems, fmt.Sprintf("%s is given twice (names are not case sensitive)", n))
				continue
			}
			out[n] = group[k]
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid parameter group: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
