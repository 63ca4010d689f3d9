package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/haredis/haredis/internal/resp"
)

// errClientGone ends a connection whose client went away.
var errClientGone = errors.New("client connection closed")

// conn is one client connection and its upstream connection.
//
// Two goroutines serve it: the client loop (reads commands, forwards them,
// owns up and the client-side state) and the upstream loop (reads replies,
// writes them to the client, counts them). sent and recv count commands and
// their replies; sent == recv means the connection is at a command boundary.
type conn struct {
	srv    *Server
	client net.Conn

	// upMu guards up and upGen against the Server closing stale upstreams.
	upMu   sync.Mutex
	up     net.Conn
	upGen  uint64
	upDone chan struct{} // closed when the upstream loop of up has ended

	sent, recv atomic.Int64
	// busy is set while the client loop handles a batch, so that Pause sees
	// either the flag or the commands counted in sent.
	busy atomic.Bool
	// blockSeq is the number of the last blocking command sent (BLPOP...):
	// the connection is blocked while recv < blockSeq.
	blockSeq atomic.Int64
	// sticky: the connection holds state no other server can reproduce
	// (subscriptions, MONITOR, CLIENT REPLY OFF, tracking) or its replies can
	// no longer be counted; it ends at the next primary change.
	sticky atomic.Bool
	// idleWait is set while the client loop waits for sent == recv.
	idleWait atomic.Bool
	idle     chan struct{}

	// wmu serialises writes to the client by the two loops.
	wmu sync.Mutex

	closeOnce sync.Once
	closed    bool // guarded by upMu: no new upstream once set

	// Client-loop state.
	authed    bool
	inMulti   bool
	watching  bool
	connected bool // an upstream was set up before: a new one is a move
	carriable bool // state before the current run allows a move
	argv      [8][]byte
	buf       []byte

	// st is the state replayed on a new upstream, changed only by replies
	// that confirmed it (applied by the upstream loop in reply order).
	stMu    sync.Mutex
	st      sessionState
	pending []stateChange
	npend   atomic.Int32
}

type sessionState struct {
	db    int
	name  []byte
	proto int
}

type stateKind uint8

const (
	stSelect stateKind = iota
	stSetName
	stHello
	stReset
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
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv: s, client: nc, idle: make(chan struct{}, 1),
		authed: s.cfg.Password == "",
		st:     sessionState{proto: 2},
	}
}

// closeClient ends the connection: both loops stop on their next I/O.
func (c *conn) closeClient() {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.upMu.Lock()
		c.closed = true
		if c.up != nil {
			c.up.Close()
		}
		c.upMu.Unlock()
	})
}

func (c *conn) serve() {
	s := c.srv
	s.m.active.Add(1)
	defer func() {
		c.closeClient()
		c.upMu.Lock()
		done := c.upDone
		c.upMu.Unlock()
		if done != nil {
			<-done
		}
		s.forget(c)
		s.m.active.Add(-1)
	}()
	c.buf = make([]byte, s.cfg.BufferSize)
	r, w := 0, 0
	for {
		if w == len(c.buf) {
			r, w = c.makeRoom(r, w)
		}
		n, err := c.client.Read(c.buf[w:])
		w += n
		if n > 0 {
			var perr error
			if r, perr = c.handleBatch(r, w); perr != nil {
				if !errors.Is(perr, errClientGone) {
					s.cfg.Log.V(1).Info("closing client connection", "client", c.client.RemoteAddr().String(), "reason", perr.Error())
				}
				return
			}
			if r == w {
				r, w = 0, 0
				if len(c.buf) > 4*s.cfg.BufferSize {
					// Do not keep a buffer grown for one large command.
					c.buf = make([]byte, s.cfg.BufferSize)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// makeRoom moves the partial command at r to the front or grows the buffer.
func (c *conn) makeRoom(r, w int) (int, int) {
	if r > 0 {
		copy(c.buf, c.buf[r:w])
		return 0, w - r
	}
	nb := make([]byte, 2*len(c.buf))
	copy(nb, c.buf[:w])
	c.buf = nb
	return 0, w
}

// handleBatch handles the complete commands in buf[r:w] and returns where
// the first incomplete one starts.
func (c *conn) handleBatch(r, w int) (int, error) {
	c.busy.Store(true)
	defer c.busy.Store(false)
	if err := c.waitWhilePaused(); err != nil {
		return r, err
	}
	start := r // start of the run of commands to forward in one write
	count := 0
	for r < w {
		k, err := resp.CommandLen(c.buf[r:w])
		if errors.Is(err, resp.ErrIncomplete) {
			break
		}
		if err != nil {
			if ferr := c.forward(start, r, count); ferr != nil {
				return r, ferr
			}
			c.replyLocal("-ERR Protocol error: " + err.Error() + "\r\n")
			return r, err
		}
		if count == 0 {
			// Whether the session can move is decided by its state before
			// the run that would be the first on a new upstream.
			c.carriable = !c.inMulti && !c.watching && !c.sticky.Load()
		}
		act, reply := c.inspect(c.buf[r:r+k], c.sent.Load()+int64(count)+1)
		if act == actForward {
			count++
			r += k
			continue
		}
		if err := c.forward(start, r, count); err != nil {
			return r, err
		}
		r += k
		start, count = r, 0
		if act == actDrop {
			continue
		}
		if err := c.replyLocal(reply); err != nil {
			return r, err
		}
		if act == actLocalClose {
			return r, errClientGone
		}
	}
	return r, c.forward(start, r, count)
}

// waitWhilePaused holds the batch while the proxy is paused. busy is
// cleared while waiting so that Pause does not wait for us.
func (c *conn) waitWhilePaused() error {
	for c.srv.paused.Load() {
		c.busy.Store(false)
		_, _, changed := c.srv.current()
		if c.srv.paused.Load() {
			c.srv.m.held.Add(1)
			<-changed
			c.srv.m.held.Add(-1)
		}
		c.busy.Store(true)
	}
	return nil
}

// forward writes count commands buf[from:to] to the upstream in one write.
func (c *conn) forward(from, to, count int) error {
	if count == 0 {
		return nil
	}
	if err := c.ensureUpstream(); err != nil {
		return err
	}
	// Count before writing: if the upstream dies meanwhile, the upstream loop
	// must see these commands as unanswered and end the client connection.
	c.sent.Add(int64(count))
	c.srv.m.commands.Add(uint64(count))
	if _, err := c.up.Write(c.buf[from:to]); err != nil {
		return fmt.Errorf("cannot forward commands: %w", err)
	}
	return nil
}

// replyLocal writes a reply the proxy makes itself, after every forwarded
// command has its reply, so that replies stay in order.
func (c *conn) replyLocal(reply string) error {
	if err := c.waitIdle(); err != nil {
		return err
	}
	c.wmu.Lock()
	_, err := io.WriteString(c.client, reply)
	c.wmu.Unlock()
	if err != nil {
		return errClientGone
	}
	return nil
}

func (c *conn) waitIdle() error {
	if c.sticky.Load() {
		// Replies can no longer be counted (RESP3 subscription replies are
		// pushes): waiting could last forever.
		return nil
	}
	c.idleWait.Store(true)
	defer c.idleWait.Store(false)
	for c.recv.Load() < c.sent.Load() {
		c.upMu.Lock()
		done := c.upDone
		c.upMu.Unlock()
		select {
		case <-c.idle:
		case <-done:
			if c.recv.Load() < c.sent.Load() {
				return errClientGone
			}
		}
	}
	return nil
}

// busyForPause reports whether Pause must wait for this connection.
func (c *conn) busyForPause() bool {
	if c.busy.Load() {
		return true
	}
	sent, recv := c.sent.Load(), c.recv.Load()
	if recv >= sent || c.sticky.Load() {
		return false
	}
	return recv >= c.blockSeq.Load() // not blocked: a reply is on its way
}

// dropUpstreamIfStale closes the upstream if it belongs to an older primary.
func (c *conn) dropUpstreamIfStale(gen uint64) {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	if c.up != nil && c.upGen != gen {
		c.up.Close()
	}
}

// ensureUpstream makes sure commands go to the current primary: it keeps the
// upstream if it is current, otherwise it ends the old one and opens a new
// one, replaying the session state, or ends the client connection when the
// session cannot be carried.
func (c *conn) ensureUpstream() error {
	gen := c.srv.gen.Load()
	c.upMu.Lock()
	up, upGen, done := c.up, c.upGen, c.upDone
	c.upMu.Unlock()
	if up != nil && upGen == gen {
		select {
		case <-done:
			// The upstream ended without a primary change and the upstream
			// loop chose not to end the client: it was idle and carriable.
		default:
			return nil
		}
	}
	if up != nil {
		up.Close()
		<-done
		// The upstream loop ends the client when replies were lost.
		if c.recv.Load() < c.sent.Load() {
			return errClientGone
		}
		c.upMu.Lock()
		c.up, c.upDone = nil, nil
		c.upMu.Unlock()
	}
	if c.connected && !c.carriable {
		c.srv.m.closedOnChange.Add(1)
		c.replyLocal("-ERR haredis: the primary changed during a transaction, WATCH or subscription; reconnect\r\n")
		return errors.New("cannot carry the session to a new primary")
	}
	nc, ngen, err := c.dialPrimary()
	if err != nil {
		c.replyLocal("-ERR haredis: " + err.Error() + "\r\n")
		return err
	}
	if c.connected {
		c.srv.m.moved.Add(1)
	}
	c.connected = true
	d := make(chan struct{})
	c.upMu.Lock()
	if c.closed {
		c.upMu.Unlock()
		nc.Close()
		return errClientGone
	}
	c.up, c.upGen, c.upDone = nc, ngen, d
	c.upMu.Unlock()
	go c.upstreamLoop(nc, d)
	return nil
}
