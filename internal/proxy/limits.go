package proxy

import (
	"errors"
	"time"

	"github.com/haredis/haredis/internal/resp"
)

// The limits that keep one client from taking the proxy's memory or
// connections (docs/proxy.md, Limits):
//
//   - MaxClients, checked when a connection is accepted (Serve);
//   - QueryBufferLimit on one command, and Redis's own limits on commands
//     before authentication, checked by the connection's CommandScanner
//     from a command's headers, before its payload is read;
//   - AuthTimeout, kept by each loop in a list of its unauthenticated
//     connections, ordered by deadline; with TLS the handshake counts in
//     it (tls.go).

const replyQueryBufferLimit = "-ERR haredis: command larger than the query buffer limit\r\n"

// protocolErrorReply is the reply to a command the proxy cannot frame or
// refuses, the same as Redis's for the same input.
func (c *conn) protocolErrorReply(err error) string {
	if errors.Is(err, resp.ErrTooLarge) {
		return replyQueryBufferLimit
	}
	var pe *resp.ProtocolError
	if errors.As(err, &pe) {
		return "-ERR Protocol error: " + pe.Reason + "\r\n"
	}
	return "-ERR Protocol error: " + err.Error() + "\r\n"
}

// overLimit reports whether a protocol error is one of the limits rather
// than malformed input (counted apart in the metrics).
func overLimit(err error) bool {
	if errors.Is(err, resp.ErrTooLarge) {
		return true
	}
	var pe *resp.ProtocolError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Reason {
	case "unauthenticated multibulk length", "unauthenticated bulk length", "too big inline request":
		return true
	}
	return false
}

// setAuthed records whether the client has authenticated; an
// unauthenticated one must do so within AuthTimeout (counted again after
// RESET).
func (c *conn) setAuthed(authed bool) {
	if authed == c.authed {
		return
	}
	c.authed = authed
	if authed {
		c.l.unlinkAuth(c)
	} else {
		c.l.linkAuth(c, time.Now().Add(c.srv.cfg.AuthTimeout))
	}
}

// linkAuth adds c to the loop's unauthenticated connections, in deadline
// order. Deadlines mostly grow, so c mostly goes at the end; a TLS client
// counts from its accept, before its handshake, and may go a few places
// before it.
func (l *loop) linkAuth(c *conn, deadline time.Time) {
	if c.authLinked {
		return
	}
	c.authLinked, c.authDeadline = true, deadline
	after := l.authTail // c goes after this one; nil: at the head
	for after != nil && after.authDeadline.After(deadline) {
		after = after.authPrev
	}
	c.authPrev = after
	if after != nil {
		c.authNext, after.authNext = after.authNext, c
	} else {
		c.authNext, l.authHead = l.authHead, c
	}
	if c.authNext != nil {
		c.authNext.authPrev = c
	} else {
		l.authTail = c
	}
}

func (l *loop) unlinkAuth(c *conn) {
	if !c.authLinked {
		return
	}
	if c.authPrev != nil {
		c.authPrev.authNext = c.authNext
	} else {
		l.authHead = c.authNext
	}
	if c.authNext != nil {
		c.authNext.authPrev = c.authPrev
	} else {
		l.authTail = c.authPrev
	}
	c.authPrev, c.authNext, c.authLinked = nil, nil, false
}

// waitTimeout is epoll_wait's timeout in milliseconds: until the first
// authentication deadline, rounded up, or -1 for none.
func (l *loop) waitTimeout() int {
	if l.authHead == nil {
		return -1
	}
	d := time.Until(l.authHead.authDeadline)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// expireAuth closes the connections that did not authenticate in time.
func (l *loop) expireAuth(now time.Time) {
	for c := l.authHead; c != nil && !c.authDeadline.After(now); c = l.authHead {
		l.unlinkAuth(c)
		l.srv.m.limitClosed.Add(1)
		c.close("not authenticated within the authentication timeout")
	}
}
