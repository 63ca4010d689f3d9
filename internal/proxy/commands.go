package proxy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/haredis/haredis/internal/resp"
)

type action uint8

const (
	actForward        action = iota // send to the primary
	actForwardBarrier               // send to the primary, then read nothing more until its reply (an AUTH the primary decides)
	actDrop                         // an empty command: Redis ignores it without a reply
	actLocal                        // the proxy answers itself
	actLocalClose                   // the proxy answers and closes (QUIT)
)

type cmdID uint8

const (
	cmdOther cmdID = iota
	cmdAuth
	cmdHello
	cmdQuit
	cmdSelect
	cmdClient
	cmdMulti
	cmdExec
	cmdDiscard
	cmdWatch
	cmdUnwatch
	cmdSubscribe // any (un)subscribe: replies cannot be counted any more
	cmdSticky    // MONITOR
	cmdReset
	cmdBlocking // BLPOP and friends, WAIT
	cmdXread    // blocking only with BLOCK
	cmdConfig
	cmdRefused // never forwarded (refusals)
)

const (
	replyNoAuth    = "-NOAUTH Authentication required.\r\n"
	replyHelloAuth = "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
	replyWrongPass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	// internalUserPrefix starts the names of haredis's own users
	// (acl.InternalPrefix).
	internalUserPrefix = "haredis-"
	replyOK            = "+OK\r\n"
	maxTrackedName     = 12
	defaultUserName    = "default"
)

// lookup maps a command name to what the proxy must know about it. The
// switch on a converted string compiles to comparisons without allocation.
func lookup(name []byte) cmdID {
	if len(name) < 3 || len(name) > maxTrackedName {
		return cmdOther
	}
	var low [maxTrackedName]byte
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		low[i] = ch
	}
	switch string(low[:len(name)]) {
	case "auth":
		return cmdAuth
	case "hello":
		return cmdHello
	case "quit":
		return cmdQuit
	case "select":
		return cmdSelect
	case "client":
		return cmdClient
	case "multi":
		return cmdMulti
	case "exec":
		return cmdExec
	case "discard":
		return cmdDiscard
	case "watch":
		return cmdWatch
	case "unwatch":
		return cmdUnwatch
	case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe":
		return cmdSubscribe
	case "monitor":
		return cmdSticky
	case "config":
		return cmdConfig
	case "replicaof", "slaveof", "failover", "shutdown", "debug", "acl", "module", "sync", "psync":
		return cmdRefused
	case "reset":
		return cmdReset
	case "blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop", "wait", "waitaof":
		return cmdBlocking
	case "xread", "xreadgroup":
		return cmdXread
	}
	return cmdOther
}

// inspect decides what to do with one complete command that would be reply
// number seq, and records what it changes in the connection's state.
func (c *conn) inspect(frame []byte, seq int64) (action, string) {
	argv := resp.Args(frame, c.argv[:0:1])
	if len(argv) == 0 {
		return actDrop, ""
	}
	id := lookup(argv[0])
	if !c.authed && id != cmdAuth && id != cmdHello && id != cmdQuit {
		return actLocal, replyNoAuth
	}
	if c.inMulti && (id == cmdSelect || id == cmdClient || id == cmdHello || id == cmdReset) {
		// Queued in a transaction, it changes the session only if EXEC
		// runs: the proxy cannot know the outcome from the +QUEUED reply,
		// so the session is never moved rather than moved wrong.
		c.sticky = true
	}
	switch id {
	case cmdOther:
		return actForward, ""
	case cmdRefused:
		return c.refuse(argv[0], nil)
	case cmdConfig:
		args := resp.Args(frame, c.argv[:0:2])
		if len(args) == 2 && (resp.EqualFold(args[1], "set") || resp.EqualFold(args[1], "rewrite") || resp.EqualFold(args[1], "resetstat")) {
			return c.refuse(args[0], args[1])
		}
	case cmdQuit:
		return actLocalClose, replyOK
	case cmdAuth:
		return c.inspectAuth(resp.Args(frame, c.argv[:0:4]), seq)
	case cmdHello:
		return c.inspectHello(resp.Args(frame, c.argv[:0:8]), seq)
	case cmdSelect:
		args := resp.Args(frame, c.argv[:0:2])
		if len(args) == 2 {
			if db, err := strconv.Atoi(string(args[1])); err == nil {
				c.expect(stateChange{seq: seq, kind: stSelect, db: db})
			}
		}
	case cmdClient:
		args := resp.Args(frame, c.argv[:0:3])
		if len(args) < 2 {
			break
		}
		switch {
		case resp.EqualFold(args[1], "kill"), resp.EqualFold(args[1], "pause"), resp.EqualFold(args[1], "unpause"):
			return c.refuse(args[0], args[1])
		case resp.EqualFold(args[1], "setname") && len(args) == 3:
			c.expect(stateChange{seq: seq, kind: stSetName, name: append([]byte(nil), args[2]...)})
		case resp.EqualFold(args[1], "reply"), resp.EqualFold(args[1], "tracking"):
			// Replies can no longer be counted, or invalidations would be
			// lost on another server.
			c.sticky = true
		}
	case cmdMulti:
		c.inMulti = true
	case cmdExec, cmdDiscard:
		c.inMulti, c.watching = false, false
	case cmdWatch:
		c.watching = true
	case cmdUnwatch:
		c.watching = false
	case cmdSubscribe, cmdSticky:
		c.sticky = true
	case cmdReset:
		c.inMulti, c.watching = false, false
		c.expect(stateChange{seq: seq, kind: stReset})
		// RESET authenticates as the default user, which has the password.
		c.setAuthed(c.srv.cfg.Password == "")
	case cmdBlocking:
		c.blockSeq = seq
	case cmdXread:
		for _, a := range resp.Args(frame, c.argv[:0:8])[1:] {
			if resp.EqualFold(a, "block") {
				c.blockSeq = seq
				break
			}
		}
	}
	return actForward, ""
}

// refusals say why the proxy never forwards a command: each would change
// the primary, its replication or its configuration behind Sentinel and
// the operator, or act on other clients' connections (the proxy's own
// included). Administrators reach the instances through NAME-primary.
var refusals = map[string]string{
	"replicaof":        "it would change replication behind Sentinel; a planned switchover is kubectl haredis promote",
	"slaveof":          "it would change replication behind Sentinel; a planned switchover is kubectl haredis promote",
	"failover":         "it would change the primary behind Sentinel; a planned switchover is kubectl haredis promote",
	"shutdown":         "it would stop the primary; the operator restarts instances with a switchover",
	"debug":            "it can stall or crash the primary",
	"acl":              "users are managed by the RedisFailover",
	"module":           "modules are part of the image",
	"sync":             "replication is for the RedisFailover's own instances",
	"psync":            "replication is for the RedisFailover's own instances",
	"config|set":       "parameters are set in spec.redis.config, which the operator applies live",
	"config|rewrite":   "the instance manager renders the configuration file",
	"config|resetstat": "the statistics feed the RedisFailover's metrics",
	"client|kill":      "it acts on other clients' connections, the proxy's own included",
	"client|pause":     "it would stop every client of the primary, the operator's switchovers included",
	"client|unpause":   "it would end a pause the operator holds during a switchover",
}

// refuse answers NOPERM for a command the proxy never forwards. Inside a
// transaction the connection is also closed, with its upstream connection:
// Redis would abort the transaction at EXEC, and closing is the one way
// the proxy can make sure no part of it runs.
func (c *conn) refuse(cmd, sub []byte) (action, string) {
	name := strings.ToLower(string(cmd))
	if sub != nil {
		name += "|" + strings.ToLower(string(sub))
	}
	c.srv.m.refused.Add(1)
	reply := fmt.Sprintf("-NOPERM the haredis proxy does not forward '%s': %s; administrators reach the primary through the Service NAME-primary\r\n", name, refusals[name])
	if c.inMulti {
		return actLocalClose, strings.TrimSuffix(reply, "\r\n") + " (inside MULTI: the connection is closed so that no part of the transaction runs)\r\n"
	}
	return actLocal, reply
}

// checkPassword compares the application user's password in constant
// time.
func (c *conn) checkPassword(pass []byte) bool {
	return c.srv.acceptsPassword(pass)
}

// isApplicationUser tells whether an AUTH names the application user (no
// name, or "default"), whose password the proxy knows.
func isApplicationUser(user []byte) bool {
	return user == nil || resp.EqualFold(user, defaultUserName)
}

// otherUser handles an AUTH (or HELLO ... AUTH) as another user than the
// application user: the primary alone knows these users, so the command is
// forwarded and nothing after it is read until its reply, which decides
// whether the connection is authenticated (stAuth). Until then the
// upstream connection is the application user's; the barrier keeps every
// later command from running as that user if the primary refuses.
// haredis's internal users are not served.
func (c *conn) otherUser(user, pass []byte, seq int64) (action, string) {
	if bytes.HasPrefix(user, []byte(internalUserPrefix)) {
		return actLocal, "-NOPERM the haredis proxy does not serve haredis's own users; they reach the instances directly\r\n"
	}
	if c.inMulti {
		// Queued, it runs at EXEC: the session (already authenticated,
		// or MULTI would have been refused) is never moved.
		c.sticky = true
		return actForward, ""
	}
	c.expect(stateChange{seq: seq, kind: stAuth, user: append([]byte(nil), user...), pass: append([]byte(nil), pass...), wasAuthed: c.authed})
	c.barrier = seq
	return actForwardBarrier, ""
}

// inspectAuth answers a wrong password of the application user itself; a
// right one is forwarded, so that the primary's "+OK" arrives in order (the
// upstream connection is already authenticated with the same password).
// Another user's AUTH is the primary's to decide (otherUser).
func (c *conn) inspectAuth(args [][]byte, seq int64) (action, string) {
	if c.srv.cfg.Password == "" {
		return actForward, "" // Redis answers that no password is set
	}
	var user, pass []byte
	switch len(args) {
	case 2:
		pass = args[1]
	case 3:
		user, pass = args[1], args[2]
	default:
		return actLocal, "-ERR wrong number of arguments for 'auth' command\r\n"
	}
	if !isApplicationUser(user) {
		return c.otherUser(user, pass, seq)
	}
	if !c.checkPassword(pass) {
		return actLocal, replyWrongPass
	}
	c.setAuthed(true)
	c.expect(stateChange{seq: seq, kind: stAuth})
	return actForward, ""
}

// inspectHello checks HELLO's AUTH option like AUTH and records the
// protocol and name it sets.
func (c *conn) inspectHello(args [][]byte, seq int64) (action, string) {
	ch := stateChange{seq: seq, kind: stHello}
	authOK, other := false, false
	var user, pass []byte
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case i == 1:
			if p, err := strconv.Atoi(string(a)); err == nil {
				ch.proto = p
			}
		case resp.EqualFold(a, "auth") && i+2 < len(args):
			if c.srv.cfg.Password != "" && !isApplicationUser(args[i+1]) {
				other = true
				user, pass = args[i+1], args[i+2]
			} else if c.srv.cfg.Password != "" && !c.checkPassword(args[i+2]) {
				return actLocal, replyWrongPass
			}
			authOK = true
			i += 2
		case resp.EqualFold(a, "setname") && i+1 < len(args):
			ch.name, ch.setNm = append([]byte(nil), args[i+1]...), true
			i++
		}
	}
	if !c.authed && !authOK {
		return actLocal, replyHelloAuth
	}
	if other {
		c.expect(ch)
		return c.otherUser(user, pass, seq)
	}
	if authOK {
		c.setAuthed(true)
		c.expect(stateChange{seq: seq, kind: stAuth})
	}
	c.expect(ch)
	return actForward, ""
}
