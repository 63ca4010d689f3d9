// Package acl defines the Redis users of a RedisFailover with auth on, in
// one place: the application user (Redis's "default", what REDIS_URL and
// the proxy use), and haredis's internal users, each allowed only what its
// part needs. redis.conf, the sentinels' configuration, the operator's live
// set-up of running instances and the tests all take them from here.
//
// It depends on the standard library only.
package acl

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// User names. The internal users' names start with "haredis-", a prefix
// a RedisFailover cannot declare.
const (
	// ApplicationUser is Redis's default user: clients that send only a
	// password (AUTH PASSWORD, redis://:PASSWORD@, REDIS_URL) are this user.
	ApplicationUser = "default"
	// AdminUser is the instance manager's and the operator's: parameter
	// groups, replica-priority, switchovers, backups.
	AdminUser = "haredis-admin"
	// ReplicationUser is what a replica authenticates as to its primary
	// (masteruser).
	ReplicationUser = "haredis-replication"
	// SentinelUser is what the sentinels authenticate as to the instances
	// (sentinel auth-user).
	SentinelUser = "haredis-sentinel"
	// InternalPrefix starts every internal user's name.
	InternalPrefix = "haredis-"
)

// DefaultApplicationRules are the application user's permissions when the
// RedisFailover gives none: every key, channel and command except the
// administrative and dangerous ones (CONFIG, REPLICAOF, FAILOVER, SHUTDOWN,
// DEBUG, ACL SETUSER, MONITOR, KEYS, FLUSHALL, ...). AlwaysAllowed follows.
const DefaultApplicationRules = "~* &* +@all -@admin -@dangerous"

// AlwaysAllowed ends the application user's rules, whatever they are: INFO
// and ROLE are what haredis's own probes send with the password (peers at
// a boot decision, a replica's lag, the operator's watcher), what client
// libraries that follow Sentinel check, and what dashboards (Sidekiq's)
// read.
const AlwaysAllowed = "+info +role"

// adminRules, replicationRules and sentinelRules are the internal users'
// permissions. The replication and sentinel sets are the ones the Redis
// documentation gives for these roles, with REPLICAOF next to SLAVEOF
// (Valkey's sentinel sends either).
var (
	adminRules       = []string{"~*", "&*", "+@all"}
	replicationRules = []string{"+psync", "+replconf", "+ping", "+sync"}
	sentinelRules    = []string{"&*", "+multi", "+exec", "+slaveof", "+replicaof", "+ping", "+subscribe", "+publish",
		"+config|rewrite", "+role", "+info", "+client|setname", "+client|kill", "+script|kill"}
)

// Keys of the internal users' passwords in Secret NAME-internal, and file
// names where pods mount them.
const (
	AdminPasswordKey       = "admin-password"
	ReplicationPasswordKey = "replication-password"
	SentinelPasswordKey    = "sentinel-user-password"
	// DeclaredUsersKey holds the users the RedisFailover declares
	// (EncodeDeclared): names, rules and password hashes, never a password.
	DeclaredUsersKey = "declared-users"
	// PreviousPasswordHashKey holds, while a rotation of the application
	// password lasts, the SHA-256 of the password it replaces (still
	// accepted next to the new one); empty otherwise. The instances, the
	// sentinels and the proxies mount it.
	PreviousPasswordHashKey = "previous-password-hash"
)

// ReadPreviousHash reads the previous application password's hash from
// the file a pod mounts (key PreviousPasswordHashKey): "" when there is
// none (an empty or missing file).
func ReadPreviousHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the previous password's hash: %w", err)
	}
	h := strings.TrimSpace(string(b))
	if h != "" && !isHash(h) {
		return "", fmt.Errorf("cannot read the previous password's hash: %s holds no SHA-256 in hex", path)
	}
	return h, nil
}

// Passwords are the internal users' passwords (NAME-internal).
type Passwords struct {
	Admin, Replication, Sentinel string
}

// Complete tells whether every internal password is set.
func (p Passwords) Complete() bool {
	return p.Admin != "" && p.Replication != "" && p.Sentinel != ""
}

// User is one Redis user as haredis sets it up: its name, password (or
// the password's hash alone, PasswordHash, for a declared user) and
// permission rules (no password rules among them).
type User struct {
	Name         string
	Password     string
	PasswordHash string
	// PreviousHash, when set, is a second password the user is accepted
	// with: the one a rotation replaces, until its grace period ends.
	PreviousHash string
	Rules        []string
}

// Users returns the application user and the internal users.
func Users(appPassword string, appRules []string, p Passwords) []User {
	return []User{
		{Name: ApplicationUser, Password: appPassword, Rules: appRules},
		{Name: AdminUser, Password: p.Admin, Rules: adminRules},
		{Name: ReplicationUser, Password: p.Replication, Rules: replicationRules},
		{Name: SentinelUser, Password: p.Sentinel, Rules: sentinelRules},
	}
}

// InternalUsers returns the internal users alone.
func InternalUsers(p Passwords) []User {
	return Users("", nil, p)[1:]
}

// Hash is a password as an ACL rule stores it (#<sha256>): redis.conf then
// never holds the password itself.
func Hash(password string) string {
	h := sha256.Sum256([]byte(password))
	return hex.EncodeToString(h[:])
}

// Spec returns the user's complete ACL specification, the same for a
// redis.conf "user" line and for ACL SETUSER: reset first, so that a user
// set again holds nothing from before.
func (u User) Spec() []string {
	hash := u.PasswordHash
	if hash == "" {
		hash = Hash(u.Password)
	}
	out := []string{"reset", "on", "#" + hash}
	if u.PreviousHash != "" && u.PreviousHash != hash {
		out = append(out, "#"+u.PreviousHash)
	}
	return append(out, u.Rules...)
}

// SetUserArgs is the ACL SETUSER command that sets u up on a running server.
func (u User) SetUserArgs() []any {
	args := []any{"ACL", "SETUSER", u.Name}
	for _, r := range u.Spec() {
		args = append(args, r)
	}
	return args
}

// ruleForm is what a permission rule of a RedisFailover may look like:
// keys (~, %R~, %W~, %RW~), channels (&), commands and categories (+/-,
// with |subcommand), and the flags that reset or widen them. Password
// rules (>, <, #, !, nopass, resetpass), on/off and reset are haredis's.
var ruleForm = regexp.MustCompile(`^(~\S+|%(R|W|RW)~\S+|&\S+|[+-]@?[a-zA-Z0-9_.-]+(\|[a-zA-Z0-9_.-]+)?|allkeys|allchannels|allcommands|nocommands|resetkeys|resetchannels)$`)

// ParseRules splits rules (separated by white space) and checks each one's
// form; the error names the rule and what to write instead. Whether Redis
// knows a command or category is checked by Redis itself.
func ParseRules(rules string) ([]string, error) {
	fields := strings.Fields(rules)
	if len(fields) == 0 {
		return nil, fmt.Errorf("no rule given: give at least one, for example %q", DefaultApplicationRules)
	}
	for _, f := range fields {
		low := strings.ToLower(f)
		switch {
		case low == "on" || low == "off" || low == "reset" || low == "nopass" || low == "resetpass" ||
			strings.HasPrefix(f, ">") || strings.HasPrefix(f, "<") || strings.HasPrefix(f, "#") || strings.HasPrefix(f, "!"):
			return nil, fmt.Errorf("rule %q sets the user's password or state, which haredis manages; give only key (~), channel (&) and command (+/-) rules", f)
		case !ruleForm.MatchString(f):
			return nil, fmt.Errorf("rule %q is not an ACL rule haredis accepts: use ~PATTERN, %%R~PATTERN, %%W~PATTERN, &PATTERN, +COMMAND, -COMMAND, +COMMAND|SUBCOMMAND, +@CATEGORY, -@CATEGORY, allkeys, allchannels, allcommands, nocommands, resetkeys or resetchannels", f)
		}
	}
	return fields, nil
}

// ApplicationRules returns the rules of the application user: rules when
// set, else DefaultApplicationRules, then AlwaysAllowed.
func ApplicationRules(rules string) ([]string, error) {
	if strings.TrimSpace(rules) == "" {
		rules = DefaultApplicationRules
	}
	out, err := ParseRules(rules)
	if err != nil {
		return nil, err
	}
	return append(out, strings.Fields(AlwaysAllowed)...), nil
}

// DeclaredUser is a user the RedisFailover declares (spec.auth.users), as
// the operator hands it to the instance managers: the rules as written and
// the password's SHA-256.
type DeclaredUser struct {
	Name         string `json:"name"`
	Rules        string `json:"rules"`
	PasswordHash string `json:"passwordHash"`
	// PreviousHash is the password a change of the user's Secret
	// replaced, still accepted until PreviousUntil (RFC 3339), when the
	// operator removes it.
	PreviousHash  string `json:"previousHash,omitempty"`
	PreviousUntil string `json:"previousUntil,omitempty"`
}

// userName is what a declared user's name may look like.
var userName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// CheckUserName tells whether a RedisFailover may declare a user of this
// name: not the application user, not an internal one.
func CheckUserName(name string) error {
	switch {
	case !userName.MatchString(name):
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	case name == ApplicationUser:
		return fmt.Errorf("user name %q is the application user, whose rules are spec.auth.applicationRules", name)
	case strings.HasPrefix(name, InternalPrefix):
		return fmt.Errorf("user name %q: names starting with %q are haredis's own users", name, InternalPrefix)
	}
	return nil
}

// User returns the declared user as set up on the instances.
func (d DeclaredUser) User() (User, error) {
	if err := CheckUserName(d.Name); err != nil {
		return User{}, err
	}
	if !isHash(d.PasswordHash) || d.PreviousHash != "" && !isHash(d.PreviousHash) {
		return User{}, fmt.Errorf("user %s: a password hash is not a SHA-256 in hex", d.Name)
	}
	rules, err := ParseRules(d.Rules)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", d.Name, err)
	}
	return User{Name: d.Name, PasswordHash: d.PasswordHash, PreviousHash: d.PreviousHash, Rules: rules}, nil
}

// isHash tells a SHA-256 in lower-case hex, as Hash writes it.
func isHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// EncodeDeclared is the form of the declared users in Secret
// NAME-internal; an empty list is "[]".
func EncodeDeclared(users []DeclaredUser) []byte {
	if users == nil {
		users = []DeclaredUser{}
	}
	b, _ := json.Marshal(users) // plain strings cannot fail
	return b
}

// DecodeDeclared reads EncodeDeclared's form.
func DecodeDeclared(b []byte) ([]DeclaredUser, error) {
	var ds []DeclaredUser
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, fmt.Errorf("the declared users are not a JSON list: %w", err)
	}
	return ds, nil
}

// ParseDeclared reads EncodeDeclared's form and checks every user.
func ParseDeclared(b []byte) ([]User, error) {
	ds, err := DecodeDeclared(b)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(ds))
	seen := map[string]bool{}
	for _, d := range ds {
		u, err := d.User()
		if err != nil {
			return nil, err
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("user %s is declared twice", u.Name)
		}
		seen[u.Name] = true
		out = append(out, u)
	}
	return out, nil
}
