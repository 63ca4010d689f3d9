package proxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/haredis/haredis/internal/resp"
)

// connHarness drives one client connection's state machine (conn.go,
// upstream.go) without a network: it plays epoll and the kernel, delivering
// the client's input in pieces of a chosen size, taking what the proxy
// writes to the upstream in pieces too, and answering every command that
// reaches the upstream with +OK. The connection's code is the real one;
// only its two sockets are descriptors of /dev/null, never read or written.
type connHarness struct {
	t      testing.TB
	s      *Server
	l      *loop
	c      *conn
	in     []byte // client input not delivered yet
	piece  int    // bytes per client read
	wpiece int    // bytes per write the "kernel" takes
	read   int    // client bytes delivered so far

	fwd    []byte // bytes the upstream received and did not frame yet
	cmds   int64  // commands the upstream received
	owed   int64  // replies the upstream still has to send
	toUser int    // bytes written to the client
}

const harnessPassword = "pw"

func newConnHarness(t testing.TB, cfg Config, in []byte, piece, wpiece int) *connHarness {
	t.Helper()
	cfg.Log = logr.Discard()
	s := New(cfg)
	l := &loop{srv: s, epfd: -1, conns: make(map[*conn]struct{}), done: make(chan struct{})}
	var fds [2]int
	for i := range fds {
		fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds[i] = fd
	}
	l.fds = make([]*conn, max(fds[0], fds[1])+1)
	c := newConn(l, fds[0])
	l.fds[fds[0]] = c
	l.fds[fds[1]] = c
	c.ufd, c.upGen, c.connected = fds[1], s.gen.Load(), true
	l.conns[c] = struct{}{}
	s.m.active.Add(1)
	if !c.authed {
		l.linkAuth(c, time.Now().Add(s.cfg.AuthTimeout))
	}
	h := &connHarness{t: t, s: s, l: l, c: c, in: in, piece: max(1, piece), wpiece: max(1, wpiece)}
	t.Cleanup(func() { c.close("") })
	return h
}

// run plays events until the connection can make no more progress, and
// checks the resource bounds after every step.
func (h *connHarness) run() {
	c, l := h.c, h.l
	maxSteps := 10*len(h.in) + 100000
	for steps := 0; c.cfd >= 0; steps++ {
		if steps > maxSteps {
			h.t.Fatalf("no end after %d steps", steps)
		}
		if len(l.ops) == 0 {
			// What epoll would report for the interest updateInterest
			// would register.
			if c.outputPending() {
				c.clientEvent(unix.EPOLLOUT)
			}
			if c.fwdFrom < c.fwdTo {
				c.upstreamEvent(unix.EPOLLOUT)
			}
			if h.owed > 0 && !c.outputPending() {
				c.upstreamEvent(unix.EPOLLIN)
			}
			if len(h.in) > 0 && c.wantsInput() {
				c.clientEvent(unix.EPOLLIN)
			}
			if len(l.ops) == 0 {
				break // quiet: everything delivered, or waiting for nothing
			}
		}
		ops := l.ops
		l.ops = nil
		for i := range ops {
			h.perform(&ops[i])
			ops[i].c.complete(&ops[i])
			h.check()
		}
		for _, d := range l.dirty {
			d.dirty = false
		}
		l.dirty = l.dirty[:0]
	}
	if c.cfd >= 0 && c.sent != h.cmds {
		h.t.Fatalf("the proxy counted %d commands sent, the upstream received %d", c.sent, h.cmds)
	}
}

func (h *connHarness) perform(op *ioOp) {
	op.done = true
	if op.fd != op.c.cfd && op.fd != op.c.ufd {
		op.err = errSkipped
		return
	}
	switch op.kind {
	case ioReadClient:
		n := min(len(op.buf), h.piece, len(h.in))
		if n == 0 {
			op.err = errAgain
			return
		}
		copy(op.buf, h.in[:n])
		h.in = h.in[n:]
		h.read += n
		op.n = n
	case ioWriteUpstream:
		n := min(len(op.buf), h.wpiece)
		h.fwd = append(h.fwd, op.buf[:n]...)
		op.n = n
		for {
			k, err := resp.CommandLen(h.fwd)
			if errors.Is(err, resp.ErrIncomplete) {
				break
			}
			if err != nil {
				h.t.Fatalf("the upstream received a malformed command: %v in %q", err, h.fwd)
			}
			h.fwd = h.fwd[k:]
			h.cmds++
			h.owed++
		}
	case ioReadUpstream:
		k := min(h.owed, int64(len(op.buf)/5))
		if k == 0 {
			op.err = errAgain
			return
		}
		for i := range int(k) {
			copy(op.buf[5*i:], "+OK\r\n")
		}
		h.owed -= k
		op.n = int(5 * k)
	case ioWriteClient:
		n := min(len(op.buf), h.wpiece)
		h.toUser += n
		op.n = n
	}
}

// unauthCommandMax is the longest command Redis's limits let a client send
// before it authenticates: an inline command of 64 KiB, or ten bulk strings
// of 16 KiB with their headers.
var unauthCommandMax = max(resp.MaxInlineLen, len("*10\r\n")+resp.MaxUnauthArgs*len(fmt.Sprintf("$%d\r\n\r\n", resp.MaxUnauthBulkLen))+resp.MaxUnauthArgs*resp.MaxUnauthBulkLen)

// check asserts the resource bounds: the input buffer never outgrows the
// query buffer limit, a command in progress never reaches it (nor Redis's
// unauthenticated limits before AUTH), and the framing examined each byte
// read at most twice however the input was split.
func (h *connHarness) check() {
	c, cfg := h.c, h.s.cfg
	if c.cfd < 0 {
		return
	}
	if limit := max(cfg.BufferSize, cfg.QueryBufferLimit); len(c.cbuf) > limit {
		h.t.Fatalf("client buffer of %d bytes, limit %d", len(c.cbuf), limit)
	}
	if c.scan.Pending() {
		partial := c.cw - c.cr
		if partial >= cfg.QueryBufferLimit {
			h.t.Fatalf("a command in progress holds %d bytes, limit %d", partial, cfg.QueryBufferLimit)
		}
		if !c.authed && partial >= unauthCommandMax {
			h.t.Fatalf("an unauthenticated command in progress holds %d bytes", partial)
		}
	}
	if c.scan.Scanned > 2*h.read {
		h.t.Fatalf("framing examined %d bytes for %d read", c.scan.Scanned, h.read)
	}
}

// FuzzClientConn runs arbitrary client input through a connection's state
// machine, read in pieces of a size the input chooses, and checks the
// resource bounds after every step (connHarness.check). The first byte of
// the input chooses the configuration: bit 0 a password, bits 1-3 the read
// size, bits 4-5 the write size, bits 6-7 the query buffer limit.
func FuzzClientConn(f *testing.F) {
	auth := "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"
	for _, seed := range []string{
		"\x00*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n",
		"\x01AUTH pw\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nQUIT\r\n",
		"\x01" + auth + "*2\r\n$4\r\nECHO\r\n$300\r\n" + strings.Repeat("x", 300) + "\r\n",
		"\x41" + auth + "*2\r\n$4\r\nECHO\r\n$300\r\n" + strings.Repeat("x", 300) + "\r\n",
		"\x01*1000000\r\n",
		"\x01*11\r\n$1\r\na\r\n",
		"\x03*2\r\n$3\r\nSET\r\n$1073741824\r\nxxxxxxxxxxxxxxxx",
		"\x03*2\r\n$3\r\nSET\r\n$16385\r\nxxxxxxxxxxxxxxxx",
		"\x01PING\r\nHELLO 3 AUTH default pw\r\nRESET\r\n*20\r\n",
		"\x41" + auth + "*100\r\n" + strings.Repeat("$1\r\na\r\n", 100),
		"\x81" + auth + "*30\r\n" + strings.Repeat("$10\r\n0123456789\r\n", 30),
		"\xc1" + auth + "MULTI\r\nSET a b\r\nEXEC\r\nSUBSCRIBE ch\r\n",
		"\x00" + strings.Repeat("GET k\r\n", 50),
		"\x31" + auth + "*1\r\n$1\r\nabc",
		"\x01*1\r\n:1\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		cfg, data := in[0], in[1:]
		conf := Config{BufferSize: 16, QueryBufferLimit: []int{64, 256, 1024, 4096}[cfg>>6&3]}
		if cfg&1 != 0 {
			conf.Password = harnessPassword
		}
		piece := []int{1, 2, 3, 7, 16, 64, 1000, 1 << 20}[cfg>>1&7]
		wpiece := []int{1, 5, 64, 1 << 20}[cfg>>4&3]
		newConnHarness(t, conf, data, piece, wpiece).run()
	})
}

// TestTrickledCommandCostsLinearWork sends one command of 100,000 arguments
// a byte per read through a connection: framing examines each byte at most
// twice (it used to rescan the command from its start at every read).
func TestTrickledCommandCostsLinearWork(t *testing.T) {
	var b strings.Builder
	const args = 100000
	fmt.Fprintf(&b, "*%d\r\n", args)
	for i := range args {
		fmt.Fprintf(&b, "$%d\r\n%d\r\n", len(fmt.Sprint(i)), i)
	}
	cmd := b.String()
	h := newConnHarness(t, Config{Password: harnessPassword}, []byte("AUTH pw\r\n"+cmd), 1, 1<<20)
	h.run()
	if h.c.cfd < 0 || h.cmds != 2 {
		t.Fatalf("closed=%v, %d commands forwarded; want both", h.c.cfd < 0, h.cmds)
	}
	if h.c.scan.Scanned > 2*h.read {
		t.Fatalf("examined %d bytes for %d read", h.c.scan.Scanned, h.read)
	}
	t.Logf("%d bytes in %d reads: %d bytes examined by the framing", h.read, h.read, h.c.scan.Scanned)
}
