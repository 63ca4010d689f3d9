package switchover

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// What a failoverTap does to the first SENTINEL FAILOVER once armed.
type tapMode int

const (
	// passOn forwards it and its reply.
	passOn tapMode = iota
	// loseReply forwards it (the sentinel runs it) and drops its reply: the
	// switchover cannot tell whether it ran.
	loseReply
	// loseCommand drops it: it never runs, and no reply comes either.
	loseCommand
)

// failoverTap is shared by the TCP proxies in front of every sentinel: it
// counts the SENTINEL FAILOVER commands that pass through any of them and
// does its mode's harm to the first one.
type failoverTap struct {
	mode      tapMode
	armed     atomic.Bool
	failovers atomic.Int32
	// onFailover, when set, runs as the first SENTINEL FAILOVER passes,
	// before the sentinel gets it.
	onFailover func()
}

// failoverCmd is how SENTINEL FAILOVER's second word looks in RESP.
var failoverCmd = []byte("$8\r\nFAILOVER\r\n")

// sentinelProxy forwards TCP connections on a loopback port to a sentinel
// through a tap. Commands are small and the clients send one at a time, so
// a read holds whole commands and a reply comes in one read.
type sentinelProxy struct {
	ln       net.Listener
	upstream string
	tap      *failoverTap
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startSentinelProxy(t *testing.T, upstream string, tap *failoverTap) *sentinelProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &sentinelProxy{ln: ln, upstream: upstream, tap: tap}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *sentinelProxy) Addr() string { return p.ln.Addr().String() }

func (p *sentinelProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		var dropReply atomic.Bool
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer u.Close()
			p.requests(c, u, &dropReply)
		}()
		go func() {
			defer p.wg.Done()
			defer c.Close()
			replies(u, c, &dropReply)
		}()
	}
}

// requests copies client to upstream through the tap.
func (p *sentinelProxy) requests(c, u net.Conn, dropReply *atomic.Bool) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			forward := true
			if bytes.Contains(bytes.ToUpper(chunk), failoverCmd) {
				p.tap.failovers.Add(1)
				if p.tap.armed.CompareAndSwap(true, false) {
					if p.tap.onFailover != nil {
						p.tap.onFailover()
					}
					switch p.tap.mode {
					case loseReply:
						dropReply.Store(true)
					case loseCommand:
						forward = false
					}
				}
			}
			if forward {
				if _, err := u.Write(chunk); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// replies copies upstream to client, dropping one reply when asked.
func replies(u, c net.Conn, dropReply *atomic.Bool) {
	buf := make([]byte, 64<<10)
	for {
		n, err := u.Read(buf)
		if n > 0 && !dropReply.CompareAndSwap(true, false) {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *sentinelProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
