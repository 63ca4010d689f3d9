package redisconf

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/instanceconfig"
)

// DefaultBind listens on every IPv4 address and, where the pod has one, IPv6.
var DefaultBind = []string{"*", "-::*"}

// Input is everything a redis.conf depends on.
type Input struct {
	// Persistence is AOF, RDB or None.
	Persistence string
	// Group is the parameter group, already normalized (NormalizeGroup).
	Group map[string]string
	// MinReplicasToWrite and MinReplicasMaxLagSeconds come from durability.
	MinReplicasToWrite       int
	MinReplicasMaxLagSeconds int
	// Port Redis listens on; Bind its addresses (DefaultBind when empty).
	Port int
	Bind []string
	// DataDir is Redis's working directory (the PVC).
	DataDir string
	// Password for clients and for the primary; "" when auth is off.
	Password string
	// Users, when set, replace requirepass: every user with its password
	// hash and rules (acl.Users), the application user among them.
	Users []acl.User
	// MasterUser and MasterAuth authenticate this instance to its primary
	// when Users is set (the replication user; none while it replicates
	// from a Redis outside the RedisFailover, which knows only Password).
	MasterUser, MasterAuth string
	// AnnounceHost and AnnouncePort are the stable address of this instance,
	// announced to the primary so that sentinels learn host names, not pod
	// IPs that change on restart.
	AnnounceHost string
	AnnouncePort int
	// ReplicaOfHost and ReplicaOfPort name the primary to replicate from;
	// empty host means boot as primary.
	ReplicaOfHost string
	ReplicaOfPort int
	// ReplicaPriority, when set, is rendered after the group and wins over
	// it: the instance manager keeps a replica that may hold older data out
	// of Sentinel's choice with 0.
	ReplicaPriority *int
	// UnixSocket, when set, adds a Unix socket (used by throwaway servers
	// that validate a group with port 0, and by the instance manager's own
	// connections when the instance speaks TLS).
	UnixSocket string
	// TLS, when set, makes Redis speak TLS only, on Port.
	TLS *TLS
}

// TLS is the certificate of an instance that speaks TLS only: clients need
// only the CA (Redis asks them for no certificate), and a replica reaches
// its primary with TLS.
type TLS struct {
	// CertFile, KeyFile and CAFile are the mounted certificate Secret's
	// tls.crt, tls.key and ca.crt.
	CertFile, KeyFile, CAFile string
	// PlainReplication replicates without TLS: the primary is a Redis
	// outside the RedisFailover (a live import's source).
	PlainReplication bool
}

// Defaults are what haredis renders unless the parameter group overrides
// them. They favour quick, safe resynchronisation of replicas.
var Defaults = map[string]string{
	"repl-diskless-sync":       "yes",
	"repl-diskless-sync-delay": "1",
	"replica-serve-stale-data": "yes",
	"replica-read-only":        "yes",
	"repl-backlog-size":        "64mb",
	"tcp-keepalive":            "60",
	"timeout":                  "0",
	"loglevel":                 "notice",
	"always-show-logo":         "no",
	"shutdown-timeout":         "10",
}

// persistenceDefaults are the settings of each persistence mode that a
// parameter group may override (save, aof-use-rdb-preamble).
var persistenceDefaults = map[string]map[string]string{
	instanceconfig.PersistenceAOF:  {"save": "", "aof-use-rdb-preamble": "yes"},
	instanceconfig.PersistenceRDB:  {"save": "3600 1 300 100 60 10000"},
	instanceconfig.PersistenceNone: {"save": ""},
}

// PersistenceDefault is the value of name (save, aof-use-rdb-preamble)
// that persistence mode mode renders unless the group sets it.
func PersistenceDefault(mode, name string) string { return persistenceDefaults[mode][name] }

// Render returns redis.conf. The file holds the password: write it with mode
// 0600 and never log it.
func Render(in Input) ([]byte, error) {
	pd, ok := persistenceDefaults[in.Persistence]
	if !ok {
		return nil, fmt.Errorf("cannot render redis.conf: persistence %q must be AOF, RDB or None", in.Persistence)
	}
	if in.Port < 0 || in.Port > 65535 || in.DataDir == "" {
		return nil, fmt.Errorf("cannot render redis.conf: port %d or data dir %q invalid", in.Port, in.DataDir)
	}
	if t := in.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "" || t.CAFile == "") {
		return nil, errors.New("cannot render redis.conf: TLS needs a certificate, a key and a CA file")
	}
	for k := range in.Group {
		if IsOwned(k) || !paramName.MatchString(k) {
			return nil, fmt.Errorf("cannot render redis.conf: parameter %q is not allowed in a parameter group", k)
		}
	}
	var b strings.Builder
	b.WriteString("# Rendered by the haredis instance manager at every start of redis-server.\n")
	b.WriteString("# Edits are lost: change spec.redis.config of the RedisFailover instead.\n")

	b.WriteString("\n# Defaults (a parameter group may override them)\n")
	defaults := map[string]string{}
	for k, v := range Defaults {
		defaults[k] = v
	}
	for k, v := range pd {
		defaults[k] = v
	}
	for _, k := range sortedKeys(defaults) {
		if _, overridden := in.Group[k]; overridden {
			continue
		}
		directive(&b, k, defaults[k])
	}

	b.WriteString("\n# Parameter group\n")
	for _, k := range sortedKeys(in.Group) {
		directive(&b, k, in.Group[k])
	}

	b.WriteString("\n# Owned by haredis\n")
	bind := in.Bind
	if len(bind) == 0 {
		bind = DefaultBind
	}
	b.WriteString("bind")
	for _, a := range bind {
		b.WriteString(" " + Quote(a))
	}
	b.WriteString("\n")
	tlsDirectives(&b, in.Port, in.TLS)
	if in.UnixSocket != "" {
		directive(&b, "unixsocket", in.UnixSocket)
		directive(&b, "unixsocketperm", "700")
	}
	// Without a password protected mode would refuse every other pod; with
	// one it has no effect. Turning auth off is the user's explicit choice.
	directive(&b, "protected-mode", "no")
	directive(&b, "daemonize", "no")
	directive(&b, "supervised", "no")
	directive(&b, "logfile", "")
	directive(&b, "dir", in.DataDir)
	directive(&b, "dbfilename", "dump.rdb")
	directive(&b, "appenddirname", "appendonlydir")
	directive(&b, "appendfilename", "appendonly.aof")
	if in.Persistence == instanceconfig.PersistenceAOF {
		directive(&b, "appendonly", "yes")
	} else {
		directive(&b, "appendonly", "no")
	}
	directive(&b, "appendfsync", "everysec")
	directive(&b, "min-replicas-to-write", strconv.Itoa(in.MinReplicasToWrite))
	maxLag := in.MinReplicasMaxLagSeconds
	if maxLag == 0 {
		maxLag = 10 // Redis's own default; 0 would make every replica too late
	}
	directive(&b, "min-replicas-max-lag", strconv.Itoa(maxLag))
	if in.AnnounceHost != "" {
		directive(&b, "replica-announce-ip", in.AnnounceHost)
	}
	if in.AnnouncePort != 0 {
		directive(&b, "replica-announce-port", strconv.Itoa(in.AnnouncePort))
	}
	switch {
	case len(in.Users) > 0:
		for _, u := range in.Users {
			b.WriteString("user " + Quote(u.Name))
			for _, r := range u.Spec() {
				b.WriteString(" " + Quote(r))
			}
			b.WriteString("\n")
		}
		if in.MasterUser != "" {
			directive(&b, "masteruser", in.MasterUser)
		}
		if in.MasterAuth != "" {
			directive(&b, "masterauth", in.MasterAuth)
		}
	case in.Password != "":
		directive(&b, "requirepass", in.Password)
		directive(&b, "masterauth", in.Password)
	}
	if in.ReplicaPriority != nil {
		directive(&b, "replica-priority", strconv.Itoa(*in.ReplicaPriority))
	}
	if in.ReplicaOfHost != "" {
		fmt.Fprintf(&b, "replicaof %s %s\n", Quote(in.ReplicaOfHost), Quote(strconv.Itoa(in.ReplicaOfPort)))
	}
	return []byte(b.String()), nil
}

// tlsDirectives renders the TCP port: plain, or with TLS only the TLS port
// (port 0 turns the plain one off) and the certificate.
func tlsDirectives(b *strings.Builder, port int, t *TLS) {
	if t == nil {
		directive(b, "port", strconv.Itoa(port))
		return
	}
	directive(b, "port", "0")
	directive(b, "tls-port", strconv.Itoa(port))
	directive(b, "tls-cert-file", t.CertFile)
	directive(b, "tls-key-file", t.KeyFile)
	directive(b, "tls-ca-cert-file", t.CAFile)
	directive(b, "tls-auth-clients", "no")
	directive(b, "tls-replication", yesNo(!t.PlainReplication))
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func directive(b *strings.Builder, name, value string) {
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(Quote(value))
	b.WriteByte('\n')
}

// Quote returns value as one double-quoted argument of redis.conf. Redis
// splits a config line like a shell would (sdssplitargs): inside double
// quotes a backslash escapes, and \xHH gives any byte. Escaping the quote,
// the backslash and every control character keeps the value on its line, so
// it can never add a second directive. Redis 7 splits a single quoted argument
// of a multi-argument parameter (save, client-output-buffer-limit) at spaces.
func Quote(value string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Hash identifies a parameter group: equal groups give equal hashes, so the
// operator can tell which group is in force on each instance.
func Hash(group map[string]string) string {
	h := sha256.New()
	for _, k := range sortedKeys(group) {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(group[k]), group[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
