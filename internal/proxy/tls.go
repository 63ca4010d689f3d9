package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// TLS, on either side, is carried by a bridge: a goroutine pair moves the
// plaintext between the TLS connection and one end of a socket pair, and
// the event loop serves the other end as it serves any plain socket.
//
// The loops read and write sockets with raw system calls, either one by
// one or in io_uring batches (uring.go); neither can encrypt. With the
// bridge a loop never sees a TLS socket, so both of its I/O paths stay
// correct with TLS on and neither needs to be turned off, and everything
// the loop does (framing, the limits before AUTH, the authentication
// timeout, pause and resume, the rotation of passwords, moving sessions to
// a new primary) works unchanged over TLS. The price is one more copy and
// one more socket hop in each direction.

// bridgeCloseGrace is how long a bridge may take to pass on what the loop
// wrote before it closed its end (a final error reply, for example) to a
// peer that does not read it: after that the TLS connection is dropped, so
// that a client that never reads cannot keep a goroutine forever.
const bridgeCloseGrace = 5 * time.Second

// bridge is the TLS side of a socket pair the loop serves.
type bridge struct {
	raw net.Conn // under the TLS connection
}

// release is called by the loop when it closes its end of the pair. The
// bridge closes the TLS connection itself once it has passed on the rest
// (it reads the end of the stream from the pair); the deadline only bounds
// a write to a peer that does not read. It never blocks the loop.
func (b *bridge) release() {
	if b != nil {
		_ = b.raw.SetWriteDeadline(time.Now().Add(bridgeCloseGrace))
	}
}

// newBridge starts carrying tc over a new socket pair and returns the end
// for the loop: non-blocking, close-on-exec, owned by the caller.
func newBridge(tc *tls.Conn, bufSize int) (int, *bridge, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("cannot create the socket pair of a TLS connection: %w", err)
	}
	f := os.NewFile(uintptr(fds[1]), "tls-bridge")
	pc, err := net.FileConn(f) // a duplicate, in Go's poller
	f.Close()
	if err != nil {
		unix.Close(fds[0])
		return -1, nil, fmt.Errorf("cannot use the socket pair of a TLS connection: %w", err)
	}
	half := pc.(interface{ CloseWrite() error })
	// TLS to the loop: the end of the peer's stream is passed on as the
	// end of the pair's, so that the loop takes what came before it.
	go func() {
		_, _ = copyBuffer(pc, tc, bufSize)
		_ = half.CloseWrite()
	}()
	// The loop to TLS, until the loop closes its end: then the TLS
	// connection ends (close_notify, within its own deadline) and with it
	// the other goroutine's read.
	go func() {
		_, _ = copyBuffer(tc, pc, bufSize)
		_ = tc.Close()
		_ = pc.Close()
	}()
	return fds[0], &bridge{raw: tc.NetConn()}, nil
}

// copyBuffer copies with a buffer of size bytes (a TLS record holds 16 KiB
// at most): neither side implements io.ReaderFrom or io.WriterTo.
func copyBuffer(dst io.Writer, src io.Reader, size int) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, size))
}

// serveTLS completes the TLS handshake of an accepted client and hands the
// plaintext to a loop. The handshake must end within AuthTimeout of the
// accept, and the time it took counts in the client's authentication
// timeout: a client that connects and never completes a handshake, or
// speaks plaintext, does not keep its place among MaxClients. The
// connection is counted in active already.
func (s *Server) serveTLS(nc net.Conn, accepted time.Time) {
	tc := tls.Server(nc, s.cfg.TLS)
	ctx, cancel := context.WithDeadline(context.Background(), accepted.Add(s.cfg.AuthTimeout))
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// Counted before the close, so that a client that sees the close
		// also sees it counted.
		s.m.tlsHandshakeErrors.Add(1)
		s.m.active.Add(-1)
		s.cfg.Log.V(1).Info("closing a client connection: TLS handshake failed", "remote", nc.RemoteAddr().String(), "error", err.Error())
		nc.Close()
		return
	}
	fd, br, err := newBridge(tc, s.cfg.BufferSize)
	if err != nil {
		nc.Close()
		s.m.active.Add(-1)
		s.cfg.Log.Error(err, "cannot serve a client connection")
		return
	}
	s.handOver(fd, br, accepted)
}

// handOver gives an accepted client socket to the next loop.
func (s *Server) handOver(fd int, br *bridge, accepted time.Time) {
	s.mu.Lock()
	if len(s.loops) == 0 { // closed before the first Serve started them
		s.mu.Unlock()
		s.m.active.Add(-1)
		unix.Close(fd)
		return
	}
	lp := s.loops[s.next%len(s.loops)]
	s.next++
	s.mu.Unlock()
	if !lp.post(func() { lp.addConn(fd, br, accepted) }) {
		s.m.active.Add(-1)
		unix.Close(fd) // closed meanwhile
	}
}

// dialUpstream connects to an instance: plain TCP, or TLS with the
// handshake done, both within DialTimeout.
func (s *Server) dialUpstream(addr string) (net.Conn, error) {
	deadline := time.Now().Add(s.cfg.DialTimeout)
	nc, err := net.DialTimeout("tcp", addr, s.cfg.DialTimeout)
	cfg := s.upstreamTLS(addr)
	if err != nil || cfg == nil {
		return nc, err
	}
	tc := tls.Client(nc, cfg)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s failed: %w", addr, err)
	}
	return tc, nil
}

// upstreamTLS is the TLS configuration toward addr, nil for plaintext.
func (s *Server) upstreamTLS(addr string) *tls.Config {
	if addr == s.cfg.PlainUpstream {
		return nil
	}
	return s.cfg.UpstreamTLS
}

// loopSocket turns an upstream connection set up by dialUpstream into a
// socket for a loop: the connection's own socket, or a bridge's end.
func (s *Server) loopSocket(nc net.Conn) (int, *bridge, error) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		fd, err := takeover(nc)
		return fd, nil, err
	}
	fd, br, err := newBridge(tc, s.cfg.BufferSize)
	if err != nil {
		tc.NetConn().Close()
		return -1, nil, err
	}
	return fd, br, nil
}
