package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/atomicfile"
)

// acceptedRulesFile, in the run directory, holds the application rules the
// running server last accepted. redis.conf gets these, never instance.json's
// untried: rules Redis would refuse (a command it does not know) would keep
// redis-server from starting at all, so new rules are first set on the
// running server (ACL SETUSER), which refuses them without harm.
const acceptedRulesFile = "acl-rules-accepted"

// acceptedDeclaredFile, in the run directory, holds the declared users
// (acl.EncodeDeclared) the running server last accepted, for redis.conf.
const acceptedDeclaredFile = "acl-declared-accepted"

// usersState is what the manager last set up on the running server.
type usersState struct {
	// applied identifies the users in force (server pid, rules, password
	// hashes); refused the last set-up Redis refused, which is not tried
	// again; err is why.
	applied string
	refused string
	err     string
}

// confRules are the application rules redis.conf gets: the last ones the
// server accepted (keepUsers records them), else the defaults; keepUsers
// sets instance.json's right after the start.
func (m *Manager) confRules() []string {
	def, _ := acl.ApplicationRules("")
	b, err := os.ReadFile(filepath.Join(m.opts.RunDir, acceptedRulesFile))
	if err != nil {
		return def
	}
	rules, err := acl.ApplicationRules(string(b))
	if err != nil {
		return def
	}
	return rules
}

// confDeclared are the declared users redis.conf gets: the ones the
// server last accepted, so that a restarted server knows them at once.
func (m *Manager) confDeclared() []acl.User {
	b, err := os.ReadFile(filepath.Join(m.opts.RunDir, acceptedDeclaredFile))
	if err != nil {
		return nil
	}
	users, err := acl.ParseDeclared(b)
	if err != nil {
		return nil
	}
	return users
}

// declaredFile reads the users the RedisFailover declares (Secret
// NAME-internal, key acl.DeclaredUsersKey); a pod without the file has none.
func (m *Manager) declaredFile() ([]byte, []acl.User, error) {
	b, err := os.ReadFile(filepath.Join(m.opts.InternalPasswordsDir, acl.DeclaredUsersKey))
	if errors.Is(err, os.ErrNotExist) {
		return []byte("[]"), nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the declared users: %w", err)
	}
	users, err := acl.ParseDeclared(b)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the declared users: %w", err)
	}
	return b, users, nil
}

// keepUsers sets the application and internal users up on the running
// server when they differ from what it last set there: after a start
// (redis.conf may have had other application rules), and when
// instance.json's application rules, a password (or the previous
// application password a rotation keeps) or the declared users changed
// (users no longer declared are deleted); it also makes
// the server authenticate to its primaries as the replication user (not
// while it imports from a Redis outside the RedisFailover). Redis's
// refusal of the application rules is reported in the status (aclError),
// the users in force stay, and the same rules are not tried again until
// something changes; any other failure is tried again at the next poll.
func (m *Manager) keepUsers(ctx context.Context) {
	cfg := m.config()
	if !cfg.AuthEnabled || !cfg.ACLUsers {
		return
	}
	m.mu.Lock()
	pid := 0
	if m.proc != nil {
		pid = m.proc.Pid
	}
	applied, refused := m.users.applied, m.users.refused
	m.mu.Unlock()
	pw, err := m.password()
	if err != nil {
		m.setUsersError(err.Error())
		return
	}
	internal, err := m.internalPasswords()
	if err != nil {
		m.setUsersError(err.Error())
		return
	}
	declaredRaw, declared, err := m.declaredFile()
	if err != nil {
		m.setUsersError(err.Error())
		return
	}
	prev, err := m.previousHash()
	if err != nil {
		m.setUsersError(err.Error())
		return
	}
	importing := m.liveSource() != nil
	key := strings.Join([]string{strconv.Itoa(pid), cfg.ApplicationRules, acl.Hash(pw), acl.Hash(internal.Admin),
		acl.Hash(internal.Replication), acl.Hash(internal.Sentinel), strconv.FormatBool(importing), acl.Hash(string(declaredRaw)), prev}, "\x00")
	switch key {
	case applied:
		m.setUsersError("") // a password file that could not be read before
		return
	case refused:
		return
	}
	rules, err := acl.ApplicationRules(cfg.ApplicationRules)
	if err != nil {
		m.refuseUsers(key, "spec.auth.applicationRules: "+err.Error())
		return
	}
	c, err := m.redisClient.client()
	if err != nil {
		m.setUsersError(err.Error())
		return
	}
	// Internal users first: the application user's rules may be refused.
	// A refusal (Redis's answer to rules, not a transient error) leaves
	// that user as it was and the others are still set up; any other
	// failure stops here and is tried again at the next poll.
	var refusals []string
	appRefused, declaredRefused := false, false
	setUp := func(u acl.User, refused string) (ok bool) {
		err := c.Do(ctx, u.SetUserArgs()...).Err()
		if err == nil {
			return true
		}
		m.log.Error("cannot set up a Redis user", "user", u.Name, "err", err)
		var rerr redis.Error
		if errors.As(err, &rerr) && !isTransient(err) && refused != "" {
			refusals = append(refusals, fmt.Sprintf(refused, err))
			return true
		}
		m.setUsersError(fmt.Sprintf("cannot set up user %s: %v", u.Name, err))
		return false
	}
	users := acl.Users(pw, rules, internal)
	users[0].PreviousHash = prev
	for _, u := range users[1:] {
		if !setUp(u, "") {
			return
		}
	}
	before := len(refusals)
	if !setUp(users[0], "Redis refused spec.auth.applicationRules "+strconv.Quote(cfg.ApplicationRules)+": %v; the application user keeps the rules it had") {
		return
	}
	appRefused = len(refusals) > before
	if err := deleteUndeclared(ctx, c, declared); err != nil {
		m.setUsersError(err.Error())
		return
	}
	before = len(refusals)
	for _, u := range declared {
		if !setUp(u, "Redis refused the rules of user "+u.Name+" (spec.auth.users): %v; the user keeps the rules it had") {
			return
		}
	}
	declaredRefused = len(refusals) > before
	if !importing {
		for _, kv := range [][2]string{{"masteruser", acl.ReplicationUser}, {"masterauth", internal.Replication}} {
			if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				m.setUsersError(fmt.Sprintf("cannot set %s: %v", kv[0], err))
				return
			}
		}
	}
	// redis.conf gets only what the server accepted.
	if !appRefused {
		if err := atomicfile.Write(filepath.Join(m.opts.RunDir, acceptedRulesFile), []byte(cfg.ApplicationRules), 0o600); err != nil {
			m.log.Warn("cannot record the accepted application rules; the next start uses the defaults until it sets them", "err", err)
		}
	}
	if !declaredRefused {
		if err := atomicfile.Write(filepath.Join(m.opts.RunDir, acceptedDeclaredFile), declaredRaw, 0o600); err != nil {
			m.log.Warn("cannot record the accepted declared users; the next start has them once it sets them", "err", err)
		}
	}
	if len(refusals) > 0 {
		m.refuseUsers(key, strings.Join(refusals, "; "))
		return
	}
	m.mu.Lock()
	m.users = usersState{applied: key}
	m.mu.Unlock()
	names := make([]string, 0, len(declared))
	for _, u := range declared {
		names = append(names, u.Name)
	}
	m.log.Info("the Redis users are set up", "applicationRules", strings.Join(rules, " "), "declaredUsers", names)
}

// deleteUndeclared deletes the users that are neither haredis's nor
// declared: a user removed from spec.auth.users, and its connections.
func deleteUndeclared(ctx context.Context, c *redis.Client, declared []acl.User) error {
	have, err := c.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return fmt.Errorf("cannot list the Redis users: %w", err)
	}
	keep := map[string]bool{acl.ApplicationUser: true}
	for _, u := range declared {
		keep[u.Name] = true
	}
	for _, name := range have {
		if keep[name] || strings.HasPrefix(name, acl.InternalPrefix) {
			continue
		}
		if err := c.Do(ctx, "ACL", "DELUSER", name).Err(); err != nil {
			return fmt.Errorf("cannot delete user %s, no longer declared: %w", name, err)
		}
	}
	return nil
}

// isTransient tells a reply that says nothing about the rules (a busy or
// loading server).
func isTransient(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "BUSY") || strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "MASTERDOWN")
}

func (m *Manager) refuseUsers(key, msg string) {
	m.mu.Lock()
	m.users.refused, m.users.err = key, msg
	m.mu.Unlock()
}

func (m *Manager) setUsersError(msg string) {
	m.mu.Lock()
	m.users.err = msg
	m.mu.Unlock()
}
