package proxy

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/haredis/haredis/internal/resp"
)

const replyCannotCarry = "-ERR haredis: the primary changed during a transaction, WATCH or subscription; reconnect\r\n"

// conn is one client connection and its upstream connection, both served by
// one loop and touched only on its goroutine.
//
// sent and recv count commands and their replies; sent == recv means the
// connection is at a command boundary. Nothing here blocks: the client's
// input is parsed into runs of commands forwarded in one write, socket
// operations are queued for the loop's next round (see loop.flush) and
// their completions carry on, and each step that has to wait leaves a mark
// that the event which ends the wait looks at (processClient picks up from
// there):
//
//	runCount > 0       a run waits for an upstream (dialing) to be counted and sent
//	fwdFrom < fwdTo    a write to the upstream is queued, or came up short and waits for EPOLLOUT
//	local != ""        a reply of the proxy's own waits until earlier replies are out
//	held               a pause holds the next run
//	output pending     the client has not taken the replies yet: the upstream is not read
//
// While any of the first four is set the client is not read either, so a
// client or an upstream that does not keep up slows its peer down instead of
// filling the proxy's memory.
type conn struct {
	l   *loop
	srv *Server

	cfd, ufd     int    // client and upstream sockets, -1 when closed / none
	upGen        uint64 // primary generation of ufd
	cmask, umask uint32 // epoll events registered for cfd and ufd
	dialing      bool
	held         bool
	dirty        bool // in the loop's list of connections to update
	// A write to the client or the upstream is queued for this round.
	cwQueued, uwQueued bool

	// Client input: cbuf[cr:cw] is read and not yet parsed. The parsed
	// run cbuf[runFrom:runTo] of runCount commands is not yet counted in
	// sent; cbuf[fwdFrom:fwdTo] is counted and not yet written. scan
	// remembers how far it framed the incomplete command at cr.
	cbuf                     []byte
	cr, cw                   int
	runFrom, runTo, runCount int
	fwdFrom, fwdTo           int
	scan                     resp.CommandScanner

	// Upstream input: ubuf[ur:uw] is the beginning of a reply already
	// passed on but not complete yet; skip counts the bytes still to come
	// of a large bulk reply passed on as it arrives. ubuf[outFrom:outTo] is
	// read but not yet taken by the client.
	ubuf           []byte
	ur, uw, skip   int
	outFrom, outTo int

	// A reply the proxy makes itself: waiting for its turn (local), or
	// partly written (lout); closeAfter ends the connection once it is out.
	local      string
	lout       []byte
	closeAfter bool

	sent, recv int64
	// blockSeq is the number of the last blocking command sent (BLPOP...):
	// the connection is blocked while recv < blockSeq.
	blockSeq int64
	// sticky: the connection holds state no other server can reproduce
	// (subscriptions, MONITOR, CLIENT REPLY OFF, tracking) or its replies can
	// no longer be counted; it ends at the next primary change.
	sticky bool
	authed bool
	// barrier is the number of an AUTH the primary decides: nothing more
	// is read or parsed until its reply (see otherUser).
	barrier   int64
	inMulti   bool
	watching  bool
	connected bool // an upstream was set up before: a new one is a move
	carriable bool // state before the current run allows a move
	argv      [8][]byte

	// In the loop's list of unauthenticated connections, closed at
	// authDeadline (see setAuthed).
	authLinked         bool
	authDeadline       time.Time
	authPrev, authNext *conn

	// st is the state replayed on a new upstream, changed only by replies
	// that confirmed it (pending, applied in reply order).
	st      sessionState
	pending []stateChange
}

type sessionState struct {
	db    int
	name  []byte
	proto int
	// user and pass: the user the client authenticated as, when not the
	// application user (whose password the proxy has).
	user, pass []byte
}

type stateKind uint8

const (
	stSelect stateKind = iota
	stSetName
	stHello
	stReset
	stAuth
)

// stateChange is a command whose success changes sessionState, applied when
// reply number seq arrives and is not an error.
type stateChange struct {
	seq   int64
	kind  stateKind
	db    int
	proto int
	name  []byte
	setNm bool
	// stAuth: the user (nil: the application user) and password, and
	// whether the client was authenticated before (it stays so if the
	// primary refuses).
	user, pass []byte
	wasAuthed  bool
}

func newConn(l *loop, fd int) *conn {
	s := l.srv
	return &conn{
		l: l, srv: s, cfd: fd, ufd: -1,
		cbuf:   make([]byte, s.cfg.BufferSize),
		ubuf:   make([]byte, s.cfg.BufferSize),
		authed: s.cfg.Password == "",
		st:     sessionState{proto: 2},
		scan:   resp.CommandScanner{MaxCommand: s.cfg.QueryBufferLimit},
	}
}

// close ends the connection; reason, when not empty, is logged.
func (c *conn) close(reason string) {
	if c.cfd < 0 {
		return
	}
	if reason != "" {
		c.srv.cfg.Log.V(1).Info("closing client connection", "reason", reason)
	}
	if c.ufd >= 0 {
		c.l.closeFD(c.ufd)
		c.ufd = -1
	}
	c.l.closeFD(c.cfd)
	c.cfd = -1
	if c.held {
		c.held = false
		c.srv.m.held.Add(-1)
	}
	c.runCount, c.local, c.lout = 0, "", nil
	c.l.unlinkAuth(c)
	delete(c.l.conns, c)
	c.srv.m.active.Add(-1)
}

func (c *conn) clientEvent(ev uint32) {
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		// The socket is gone both ways: nothing can reach the client, and
		// level-triggered epoll would report it again and again.
		c.close("")
		return
	}
	if ev&unix.EPOLLOUT != 0 && c.outputPending() {
		c.queueClientWrite()
	}
	if ev&unix.EPOLLIN != 0 && c.wantsInput() {
		c.queueClientRead()
	}
}

// complete takes the result of one of the connection's socket operations.
func (c *conn) complete(op *ioOp) {
	switch op.kind {
	case ioReadClient:
		c.clientRead(op.n, op.err)
	case ioReadUpstream:
		c.upstreamRead(op.fd, op.n, op.err)
	case ioWriteClient:
		c.clientWritten(op.n, op.err)
	case ioWriteUpstream:
		c.upstreamWritten(op.fd, op.n, op.err)
	}
}

// wantsInput reports whether the client is read: only when no earlier step
// waits (see conn).
func (c *conn) wantsInput() bool {
	return !c.held && !c.dialing && c.runCount == 0 && c.fwdFrom == c.fwdTo && c.local == "" && !c.closeAfter && c.recv >= c.barrier
}

func (c *conn) outputPending() bool { return len(c.lout) > 0 || c.outFrom < c.outTo }

func (c *conn) queueClientRead() {
	// Nothing refers to the buffer's parsed part while the client is read.
	if c.cr == c.cw {
		c.cr, c.cw = 0, 0
		if len(c.cbuf) > 4*c.srv.cfg.BufferSize {
			// Do not keep a buffer grown for one large command.
			c.cbuf = make([]byte, c.srv.cfg.BufferSize)
		}
	} else if c.cw == len(c.cbuf) && !c.makeRoom() {
		// Not reached: the scanner refuses a command before it fills a
		// buffer of the limit's size. Never grow past it all the same.
		c.srv.m.limitClosed.Add(1)
		c.cw = c.cr
		c.scan.Reset()
		c.local, c.closeAfter = replyQueryBufferLimit, true
		c.processClient()
		return
	}
	c.l.queue(c, ioReadClient, c.cfd, c.cbuf[c.cw:])
}

func (c *conn) clientRead(n int, err error) {
	if c.cfd < 0 || err == errAgain || err == errSkipped {
		return
	}
	if n == 0 || err != nil {
		c.close("")
		return
	}
	c.cw += n
	c.processClient()
}

// makeRoom moves the partial command at cr to the front or grows the buffer:
// a command is forwarded whole. It reports false when the buffer already has
// the size of the query buffer limit, which it never passes.
func (c *conn) makeRoom() bool {
	if c.cr > 0 {
		c.cw = copy(c.cbuf, c.cbuf[c.cr:c.cw])
		c.cr = 0
		return true
	}
	size := min(2*len(c.cbuf), max(c.srv.cfg.QueryBufferLimit, c.srv.cfg.BufferSize))
	if size <= len(c.cbuf) {
		return false
	}
	nb := make([]byte, size)
	copy(nb, c.cbuf[:c.cw])
	c.cbuf = nb
	return true
}

// processClient takes the client's input as far as it can go without
// waiting. Every event that may end a wait calls it.
func (c *conn) processClient() {
	for c.cfd >= 0 && !c.held {
		switch {
		case c.runCount > 0 || c.fwdFrom < c.fwdTo:
			if !c.forward() {
				return
			}
		case c.local != "":
			if !c.deliverLocal() {
				return
			}
		case c.closeAfter, c.cr == c.cw, c.recv < c.barrier:
			return
		case c.srv.paused.Load():
			// A command boundary: hold here until Resume.
			c.held = true
			c.l.held = append(c.l.held, c)
			c.srv.m.held.Add(1)
			return
		default:
			if !c.parse() {
				return
			}
		}
	}
}

// parse takes the next commands of the input: a run of commands to forward,
// ended by the first one the proxy answers itself. It reports whether it
// took anything.
func (c *conn) parse() bool {
	start, r, count := c.cr, c.cr, 0
	took := false
	for r < c.cw {
		// Before authentication Redis's stricter limits apply (the state
		// can change only at a command boundary: AUTH, HELLO, RESET).
		k, err := c.scan.Next(c.cbuf[r:c.cw], !c.authed)
		if err == resp.ErrIncomplete {
			break
		}
		if err != nil {
			if overLimit(err) {
				c.srv.m.limitClosed.Add(1)
			}
			c.local, c.closeAfter = c.protocolErrorReply(err), true
			c.cw = r // nothing after it can be framed
			took = true
			break
		}
		if count == 0 {
			// Whether the session can move is decided by its state before
			// the run that would be the first on a new upstream.
			c.carriable = !c.inMulti && !c.watching && !c.sticky
		}
		act, reply := c.inspect(c.cbuf[r:r+k], c.sent+int64(count)+1)
		if act == actForward {
			count++
			r += k
			continue
		}
		if act == actForwardBarrier {
			// The run ends with it; its reply lets the input go on.
			count++
			r += k
			c.cr = r
			c.runFrom, c.runTo, c.runCount = start, r, count
			return true
		}
		c.cr = r + k
		switch act {
		case actLocal:
			c.local = reply
		case actLocalClose:
			c.local, c.closeAfter = reply, true
		}
		c.runFrom, c.runTo, c.runCount = start, r, count
		return true
	}
	c.cr = r
	c.runFrom, c.runTo, c.runCount = start, r, count
	return took || count > 0
}

// forward counts and writes the parsed run. It reports whether the client's
// input can go on; false while it waits for an upstream or for EPOLLOUT.
func (c *conn) forward() bool {
	if c.runCount > 0 {
		if !c.upstreamFor() {
			return c.runCount == 0 // dropped for an error reply: deliver it
		}
		// Count before writing: if the upstream dies meanwhile, these
		// commands are unanswered and the client connection must end.
		c.sent += int64(c.runCount)
		c.l.commands.Add(uint64(c.runCount))
		c.fwdFrom, c.fwdTo = c.runFrom, c.runTo
		c.runCount = 0
	}
	c.queueUpstreamWrite()
	return false // goes on when the write is done
}

func (c *conn) queueUpstreamWrite() {
	if !c.uwQueued {
		c.uwQueued = true
		c.l.queue(c, ioWriteUpstream, c.ufd, c.cbuf[c.fwdFrom:c.fwdTo])
	}
}

func (c *conn) upstreamWritten(fd, n int, err error) {
	c.uwQueued = false
	if c.cfd < 0 || fd != c.ufd || err == errSkipped {
		return
	}
	if err != nil && err != errAgain {
		c.upstreamGone() // ends the client too: these commands are lost
		return
	}
	c.fwdFrom += n
	if c.fwdFrom < c.fwdTo {
		return // the rest when epoll says the upstream is writable
	}
	c.fwdFrom, c.fwdTo = 0, 0
	c.processClient()
}

// upstreamFor makes sure the run goes to the current primary: it keeps the
// upstream if it is current, otherwise it ends the old one and dials a new
// one (the run waits), or drops the run for an error reply when the session
// cannot be carried. It reports whether the run can be sent now.
func (c *conn) upstreamFor() bool {
	if c.ufd >= 0 {
		if c.upGen == c.srv.gen.Load() {
			return true
		}
		c.upstreamGone()
		if c.cfd < 0 {
			return false // replies were lost
		}
	}
	if c.dialing {
		return false
	}
	if c.connected && !c.carriable {
		c.srv.m.closedOnChange.Add(1)
		c.runCount = 0
		c.local, c.closeAfter = replyCannotCarry, true
		return false
	}
	c.startDial()
	return false
}

// deliverLocal writes the proxy's own reply once every earlier reply is
// out. It reports whether the client's input can go on.
func (c *conn) deliverLocal() bool {
	if !c.sticky && c.recv < c.sent {
		return false // the upstream's replies come first
	}
	if c.outputPending() || c.ur < c.uw || c.skip > 0 {
		return false // never in the middle of a reply (a push, when sticky)
	}
	c.lout = []byte(c.local)
	c.local = ""
	c.queueClientWrite()
	return false // goes on when the write is done
}

// queueClientWrite writes the output the client has not taken yet: the
// proxy's own reply, or replies read from the upstream.
func (c *conn) queueClientWrite() {
	if c.cwQueued {
		return
	}
	c.cwQueued = true
	if len(c.lout) > 0 {
		c.l.queue(c, ioWriteClient, c.cfd, c.lout)
		return
	}
	c.l.queue(c, ioWriteClient, c.cfd, c.ubuf[c.outFrom:c.outTo])
}

func (c *conn) clientWritten(n int, err error) {
	c.cwQueued = false
	if c.cfd < 0 || err == errSkipped {
		return
	}
	if err != nil && err != errAgain {
		c.close("")
		return
	}
	full := false
	if len(c.lout) > 0 {
		full = n == len(c.lout)
		c.lout = c.lout[n:]
		if len(c.lout) == 0 {
			c.lout = nil
		}
	} else {
		full = n == c.outTo-c.outFrom
		c.outFrom += n
	}
	if c.outputPending() {
		if full {
			c.queueClientWrite() // replies that came after the proxy's own
		}
		return // else the rest when epoll says the client is writable
	}
	c.outFrom, c.outTo = 0, 0
	if c.closeAfter && c.local == "" {
		c.close("")
		return
	}
	c.processClient()
}

// updateInterest tells epoll what the connection waits for, when that
// changed. In the steady state (both sockets read, nothing pending) it
// makes no system call.
func (c *conn) updateInterest() {
	if c.cfd < 0 {
		return
	}
	var cm, um uint32
	if c.wantsInput() {
		cm |= unix.EPOLLIN
	}
	if c.outputPending() {
		cm |= unix.EPOLLOUT
	} else {
		um |= unix.EPOLLIN
	}
	if c.fwdFrom < c.fwdTo {
		um |= unix.EPOLLOUT
	}
	if cm != c.cmask {
		if err := c.l.modify(c.cfd, cm); err != nil {
			c.close("cannot watch the client socket: " + err.Error())
			return
		}
		c.cmask = cm
	}
	if c.ufd >= 0 && um != c.umask {
		if err := c.l.modify(c.ufd, um); err != nil {
			c.close("cannot watch the upstream socket: " + err.Error())
			return
		}
		c.umask = um
	}
}

// busyForPause reports whether Pause must wait for this connection: a run
// is on its way to the primary, or a reply is (not a blocked command).
func (c *conn) busyForPause() bool {
	if c.runCount > 0 {
		return true
	}
	if c.recv >= c.sent || c.sticky {
		return false
	}
	return c.recv >= c.blockSeq
}
