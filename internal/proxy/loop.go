package proxy

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// loop is one event loop: a goroutine that owns some client connections and
// their upstream sockets, waits for their readiness with one level-triggered
// epoll set, and moves bytes with plain read and write system calls.
//
// Why not a goroutine per direction on net.Conn, as before: Go's poller
// tries a read before it parks a goroutine, so each batch in each direction
// paid a read that returned EAGAIN, and two goroutine wake-ups per round
// trip. Here a socket is read only after epoll said it is readable, written
// directly, and watched for EPOLLOUT only after a short write; one
// epoll_wait returns the ready sockets of many connections.
//
// Everything about a connection is touched only by its loop's goroutine.
// Other goroutines (accept, dial, admin, sentinel watcher) post tasks, which
// wake the loop through an eventfd.
type loop struct {
	srv    *Server
	epfd   int
	wakefd int
	events []unix.EpollEvent

	mu      sync.Mutex
	tasks   []func()
	running []func()
	woken   bool // a wake-up is written and not yet consumed
	stopped bool

	fds []*conn // by descriptor: the connection that owns it
	// bridges, by descriptor: the TLS bridge whose socket pair end it is
	// (tls.go), told when the loop closes it.
	bridges []*bridge
	conns   map[*conn]struct{}
	held    []*conn // waiting for the end of a pause
	spare   []*conn
	// Connections not yet authenticated, by deadline (limits.go).
	authHead, authTail *conn

	// One round's socket operations (see flush), the next round's, and the
	// connections whose epoll interest may have changed.
	ops, nextOps []ioOp
	dirty        []*conn
	ring         *uring // nil: plain system calls

	// commands counts forwarded commands; per loop so that loops on
	// different cores do not share a hot cache line.
	commands atomic.Uint64
	done     chan struct{}
}

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cannot create an epoll set: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("cannot create an eventfd: %w", err)
	}
	l := &loop{
		srv: s, epfd: epfd, wakefd: wakefd,
		events: make([]unix.EpollEvent, 256),
		conns:  make(map[*conn]struct{}),
		done:   make(chan struct{}),
	}
	io := "plain system calls"
	if s.cfg.NoIOURing {
		io += " (io_uring disabled)"
	} else if ring, err := newURing(256); err != nil {
		io += " (" + err.Error() + ")"
	} else {
		l.ring, io = ring, "io_uring batches"
	}
	s.cfg.Log.Info("event loop started", "io", io)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("cannot watch the eventfd: %w", err)
	}
	go l.run()
	return l, nil
}

// yieldEvery is how often a busy loop lets the scheduler run. A goroutine
// that never reschedules (system calls do not count) is preempted by the
// runtime's monitor after 10 ms, and when that happens during epoll_wait the
// monitor takes the P away and goes back to checking every 20 µs for a while:
// thousands of wake-ups a second, measured as 9 % of the proxy's CPU. A
// Gosched costs a thread wake-up too (tens of µs here), so it comes just
// often enough: the monitor preempts only a goroutine it saw on the same
// scheduling tick at two checks 10 ms apart.
const yieldEvery = 8 * time.Millisecond

func (l *loop) run() {
	defer close(l.done)
	lastYield := time.Now()
	for {
		// A blocking system call the scheduler knows about: the P is
		// free for other goroutines while the loop sleeps.
		n, err := unix.EpollWait(l.epfd, l.events, l.waitTimeout())
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			l.srv.cfg.Log.Error(err, "event loop failed, closing its connections")
			l.mu.Lock()
			l.stopped = true
			l.mu.Unlock()
			l.runTasks() // the tasks already posted, then the shutdown
			return
		}
		woken := false
		for i := range n {
			fd := int(l.events[i].Fd)
			if fd == l.wakefd {
				woken = true
				continue
			}
			// A connection closed earlier in this batch has cleared its
			// entries; descriptors are registered only between batches,
			// so a reused number cannot be mistaken for an old one here.
			if fd >= len(l.fds) || l.fds[fd] == nil {
				continue
			}
			c := l.fds[fd]
			l.touch(c)
			if fd == c.cfd {
				c.clientEvent(l.events[i].Events)
			} else {
				c.upstreamEvent(l.events[i].Events)
			}
		}
		l.flush()
		if woken {
			if !l.runTasks() {
				return
			}
			l.flush()
		}
		now := time.Now()
		if l.authHead != nil {
			l.expireAuth(now)
		}
		if now.Sub(lastYield) > yieldEvery {
			lastYield = now
			runtime.Gosched()
		}
	}
}

// post runs f on the loop. It reports false when the loop has stopped: f
// will never run, and what it would have owned is the caller's to release.
func (l *loop) post(f func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.tasks = append(l.tasks, f)
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		l.wake()
	}
	return true
}

func (l *loop) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

// call runs f on the loop and waits for it; false when the loop has stopped.
func (l *loop) call(f func()) bool {
	done := make(chan struct{})
	if !l.post(func() { f(); close(done) }) {
		return false
	}
	<-done
	return true
}

// runTasks runs the posted tasks; false once the loop has stopped.
func (l *loop) runTasks() bool {
	var buf [8]byte
	_, _ = unix.Read(l.wakefd, buf[:]) // consume the wake-up before taking tasks
	l.mu.Lock()
	l.tasks, l.running = l.running[:0], l.tasks
	l.woken = false
	stopped := l.stopped
	l.mu.Unlock()
	for i, f := range l.running {
		f()
		l.running[i] = nil
	}
	if stopped {
		l.shutdown()
		return false
	}
	return true
}

// stop closes every connection of the loop and ends it.
func (l *loop) stop() {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		if !l.woken {
			l.woken = true
			l.wake()
		}
	}
	l.mu.Unlock()
	<-l.done
}

// ioKind is what a socket operation of a round does.
type ioKind uint8

const (
	ioReadClient ioKind = iota
	ioReadUpstream
	ioWriteClient
	ioWriteUpstream
)

func (k ioKind) isWrite() bool { return k >= ioWriteClient }

// ioOp is one read or write of a round, and then its result.
type ioOp struct {
	c    *conn
	kind ioKind
	fd   int
	buf  []byte
	done bool // performed (or skipped): n and err hold the result
	n    int
	err  error
}

// errSkipped is the result of an operation whose connection or socket went
// away before the round performed it.
var errSkipped = errors.New("socket closed before the operation")

// queue adds a socket operation to the next round.
func (l *loop) queue(c *conn, kind ioKind, fd int, buf []byte) {
	l.ops = append(l.ops, ioOp{c: c, kind: kind, fd: fd, buf: buf})
	l.touch(c)
}

// touch marks c for an interest update at the end of the batch.
func (l *loop) touch(c *conn) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

// flush performs the queued socket operations in rounds: first the reads
// the events asked for, all at once, then the writes their data produced,
// all at once, and so on while completions queue more (a write done may let
// a connection go on). Then it tells epoll what each touched connection now
// waits for.
func (l *loop) flush() {
	for len(l.ops) > 0 {
		ops := l.ops
		l.ops = l.nextOps[:0]
		l.perform(ops)
		for i := range ops {
			ops[i].c.complete(&ops[i])
			ops[i] = ioOp{} // let go of buffers and connections
		}
		l.nextOps = ops[:0]
	}
	for i, c := range l.dirty {
		c.dirty = false
		c.updateInterest()
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
}

// perform does the operations of one round, with one io_uring submission
// when there are two or more, else with plain system calls.
func (l *loop) perform(ops []ioOp) {
	live := 0
	for i := range ops {
		op := &ops[i]
		// A descriptor closed during the previous round's completions may
		// already be reused by another goroutine's socket.
		if op.fd != op.c.cfd && op.fd != op.c.ufd {
			op.done, op.err = true, errSkipped
			continue
		}
		live++
	}
	if l.ring != nil && live >= 2 {
		if err := l.ring.run(ops); err != nil {
			l.srv.cfg.Log.Error(err, "io_uring failed, using plain system calls")
			l.ring.close()
			l.ring = nil
		}
	}
	for i := range ops {
		op := &ops[i]
		if op.done {
			continue
		}
		if op.kind.isWrite() {
			op.n, op.err = sysWrite(op.fd, op.buf)
		} else {
			op.n, op.err = sysRead(op.fd, op.buf)
		}
		op.done = true
	}
}

func (l *loop) shutdown() {
	for c := range l.conns {
		c.close("")
	}
	unix.Close(l.wakefd)
	unix.Close(l.epfd)
	if l.ring != nil {
		l.ring.close()
	}
}

// register adds fd, owned by c, to the epoll set; br is the TLS bridge
// of fd, nil for a plain socket.
func (l *loop) register(fd int, c *conn, br *bridge, events uint32) error {
	if fd >= len(l.fds) {
		n := max(fd+1, 2*len(l.fds), 64)
		fds := make([]*conn, n)
		copy(fds, l.fds)
		l.fds = fds
		bridges := make([]*bridge, n)
		copy(bridges, l.bridges)
		l.bridges = bridges
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("cannot watch a socket: %w", err)
	}
	l.fds[fd], l.bridges[fd] = c, br
	return nil
}

func (l *loop) modify(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// closeFD forgets and closes a registered descriptor.
func (l *loop) closeFD(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	l.fds[fd] = nil
	unix.Close(fd)
	if fd < len(l.bridges) && l.bridges[fd] != nil {
		br := l.bridges[fd]
		l.bridges[fd] = nil
		br.release()
	}
}

// addConn starts serving the client socket fd, accepted at accepted (the
// authentication timeout counts from then: a TLS handshake counts in it);
// br is its TLS bridge, nil for a plain socket.
func (l *loop) addConn(fd int, br *bridge, accepted time.Time) {
	c := newConn(l, fd)
	if err := l.register(fd, c, br, unix.EPOLLIN); err != nil {
		l.srv.cfg.Log.Error(err, "cannot serve a client connection")
		unix.Close(fd)
		l.srv.m.active.Add(-1) // counted by Serve
		return
	}
	c.cmask = unix.EPOLLIN
	l.conns[c] = struct{}{}
	if !c.authed {
		l.linkAuth(c, accepted.Add(l.srv.cfg.AuthTimeout))
	}
}

// busy counts the connections Pause must wait for.
func (l *loop) busy() int {
	n := 0
	for c := range l.conns {
		if c.busyForPause() {
			n++
		}
	}
	return n
}

// release lets the held connections go on once the pause is over.
func (l *loop) release() {
	if l.srv.paused.Load() {
		return
	}
	// Swap, because a connection released here may be held again.
	held := l.held
	l.held, l.spare = l.spare[:0], nil
	for i, c := range held {
		held[i] = nil
		if !c.held {
			continue // closed meanwhile
		}
		c.held = false
		l.srv.m.held.Add(-1)
		l.touch(c)
		c.processClient()
	}
	l.spare = held[:0]
}

// dropStale closes the upstream sockets of an older primary generation.
func (l *loop) dropStale(gen uint64) {
	for c := range l.conns {
		if c.ufd >= 0 && c.upGen != gen {
			l.touch(c)
			c.upstreamGone()
		}
	}
}
