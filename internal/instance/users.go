package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/atomicfile"
)

// acceptedRulesFile, in the run directory, holds the application rules the
// running server last accepted. redis.conf gets the rules of instance.json
// only when they are these: rules Redis would refuse (a command it does not
// know) would keep redis-server from starting at all, so new rules are
// first set on the running server (ACL SETUSER), which refuses them
// without harm.
const acceptedRulesFile = "acl-rules-accepted"

// usersState is what the manager last set up on the running server.
type usersState struct {
	// applied identifies the users in force (server pid, rules, password
	// hashes); refused the last set-up Redis refused, which is not tried
	// again; err is why.
	applied string
	refused string
	err     string
}

// confRules are the application rules redis.conf gets: instance.json's
// when the server accepted them before, else the defaults (keepUsers sets
// instance.json's right after the start).
func (m *Manager) confRules(configured string) []string {
	def, _ := acl.ApplicationRules("")
	if strings.TrimSpace(configured) == "" {
		return def
	}
	b, err := os.ReadFile(filepath.Join(m.opts.RunDir, acceptedRulesFile))
	if err != nil || string(b) != configured {
		return def
	}
	rules, err := acl.ApplicationRules(configured)
	if err != nil {
		return def
	}
	return rules
}

// keepUsers sets the application and internal users up on the running
// server when they differ from what it last set there: after a start
// (redis.conf may have had the default rules), and when instance.json's
// application rules or a password changed. Redis's refusal of the rules is
// reported in the status (aclError), the users in force stay, and the same
// set-up is not tried again until something changes.
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
	key := strings.Join([]string{strconv.Itoa(pid), cfg.ApplicationRules, acl.Hash(pw), acl.Hash(internal.Admin), acl.Hash(internal.Replication), acl.Hash(internal.Sentinel)}, "\x00")
	if key == applied || key == refused {
		return
	}
	rules, err := acl.ApplicationRules(cfg.ApplicationRules)
	if err != nil {
		m.setUsersError("spec.auth.applicationRules: " + err.Error())
		return
	}
	c, err := m.redisClient.client()
	if err != nil {
		m.setUsersError(err.Error())
		return
	}
	// Internal users first: the application user's rules may be refused.
	users := acl.Users(pw, rules, internal)
	for _, u := range append(users[1:], users[0]) {
		if err := c.Do(ctx, u.SetUserArgs()...).Err(); err != nil {
			msg := fmt.Sprintf("cannot set up user %s: %v", u.Name, err)
			if u.Name == acl.ApplicationUser {
				msg = fmt.Sprintf("Redis refused spec.auth.applicationRules %q: %v; the application user keeps the rules it had", cfg.ApplicationRules, err)
			}
			m.mu.Lock()
			m.users.refused, m.users.err = key, msg
			m.mu.Unlock()
			m.log.Error("cannot set up the Redis users", "user", u.Name, "err", err)
			return
		}
	}
	if err := atomicfile.Write(filepath.Join(m.opts.RunDir, acceptedRulesFile), []byte(cfg.ApplicationRules), 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("cannot record the accepted application rules; the next start uses the defaults until it sets them", "err", err)
	}
	m.mu.Lock()
	m.users = usersState{applied: key}
	m.mu.Unlock()
	m.log.Info("the Redis users are set up", "applicationRules", strings.Join(rules, " "))
}

func (m *Manager) setUsersError(msg string) {
	m.mu.Lock()
	m.users.err = msg
	m.mu.Unlock()
}
