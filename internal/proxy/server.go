package proxy

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// Config configures a proxy Server.
type Config struct {
	// Password is required from clients (AUTH or HELLO AUTH, default user)
	// and used to authenticate upstream connections. Empty: no auth.
	// SetPassword changes it (and adds a previous one) while serving.
	Password string
	// PreviousPassword, during a rotation of the password, is the one it
	// replaces: clients may give that one too, and an instance that has
	// not read the new one yet is authenticated with it.
	PreviousPassword string
	// AdminTokenFile, when set, holds the bearer token the admin endpoint
	// requires for /pause and /resume, read at each request (the kubelet
	// replaces the file when its Secret changes); when empty, the admin
	// endpoint requires Password instead.
	AdminTokenFile string
	// DialTimeout bounds one upstream dial and the replay of a connection's
	// state (default 1 s).
	DialTimeout time.Duration
	// PrimaryWait is how long a command waits for a reachable primary
	// (during a failover) before the client gets an error (default 3 s).
	PrimaryWait time.Duration
	// MaxPause is the longest a Pause holds commands before resuming by
	// itself (default 10 s).
	MaxPause time.Duration
	// BufferSize is each direction's initial buffer (default 16 KiB).
	BufferSize int
	// MaxClients bounds the client connections open at once (default
	// 10000, Redis's maxclients): one more is answered "-ERR max number of
	// clients reached" and closed.
	MaxClients int
	// QueryBufferLimit bounds one command, framing included (default 64
	// MiB, see DefaultQueryBufferLimit): a client whose command is, or
	// declares in its headers that it will be, longer gets an error and is
	// closed.
	QueryBufferLimit int
	// AuthTimeout is how long a client may stay connected without
	// authenticating, when a password is set (default 10 s).
	AuthTimeout time.Duration
	// Loops is the number of event loops serving connections (default
	// GOMAXPROCS-1, at least 1). A loop sleeps in epoll_wait, a system call
	// that holds its P; when every P is held so, the runtime takes one back
	// (a thread hand-off) each time, so one P is left for the rest.
	Loops int
	// NoIOURing makes the loops use plain read and write system calls even
	// where io_uring is available (tests of both paths; kernels where it
	// misbehaves). HAREDIS_PROXY_NO_IO_URING=1 in the environment sets it
	// too: an escape hatch without a flag, which also lets the whole test
	// suite run on the plain path.
	NoIOURing bool
	// TLS, when set, is the configuration of the client listener: clients
	// must complete a TLS handshake within AuthTimeout of connecting, or
	// are closed (tls.go). UpstreamTLS, when set, is the configuration of
	// the connections to the instances (and of the ROLE check of
	// /resume).
	TLS, UpstreamTLS *tls.Config
	// PlainUpstream, with UpstreamTLS, is an address reached without TLS:
	// a live import's source, outside the RedisFailover.
	PlainUpstream string
	Log           logr.Logger
}

// Defaults of the limits.
const (
	DefaultMaxClients = 10000
	// DefaultQueryBufferLimit is far below Redis's
	// client-query-buffer-limit (1 GiB): the proxy holds a command whole
	// before it forwards it, on top of what Redis holds, and a proxy pod
	// has much less memory than the primary, so that one client cannot take
	// a gigabyte of it. 64 MiB is eight times the largest value the tests
	// move; a deployment that stores larger values raises it with
	// --query-buffer-limit (Redis's proto-max-bulk-len, 512 MiB, still
	// bounds one string).
	DefaultQueryBufferLimit = 64 << 20
	DefaultAuthTimeout      = 10 * time.Second
)

// Server is the proxy. Its methods are safe for concurrent use.
type Server struct {
	cfg Config

	// gen changes with every primary change; connections compare it with
	// their upstream's at each batch. paused is read on the same hot path.
	gen    atomic.Uint64
	paused atomic.Bool

	mu         sync.Mutex
	primary    string
	changed    chan struct{} // closed and replaced on every change of primary or pause
	loops      []*loop       // started by the first Serve
	next       int           // the loop of the next client, round robin
	pauseTimer *time.Timer
	// movedInPause: SetPrimary (Sentinel's confirmed choice) changed the
	// primary while commands were held; Resume does not override it.
	movedInPause bool
	listeners    map[net.Listener]struct{}
	closed       bool

	m stats

	// creds is the password in force and, during a rotation, the one it
	// replaces (SetPassword).
	creds atomic.Pointer[credentials]
}

// credentials are what clients may authenticate with.
type credentials struct {
	password, previous string
}

// SetPassword puts password in force for clients and upstream
// connections and, during a rotation, also accepts previous ("" for none)
// from clients and authenticates with it to an instance that refuses the
// new one. Whether the proxy requires a password at all stays as
// Config.Password set it.
func (s *Server) SetPassword(password, previous string) {
	if s.cfg.Password == "" || password == "" {
		return
	}
	s.creds.Store(&credentials{password: password, previous: previous})
}

// password is the password in force.
func (s *Server) password() string {
	if c := s.creds.Load(); c != nil {
		return c.password
	}
	return s.cfg.Password
}

// previousPassword is, during a rotation, the password it replaces.
func (s *Server) previousPassword() string {
	if c := s.creds.Load(); c != nil {
		return c.previous
	}
	return ""
}

// acceptsPassword tells whether a client's password is the one in force
// or, during a rotation, the previous one (constant time).
func (s *Server) acceptsPassword(pass []byte) bool {
	c := s.creds.Load()
	if c == nil {
		return subtle.ConstantTimeCompare(pass, []byte(s.cfg.Password)) == 1
	}
	ok := subtle.ConstantTimeCompare(pass, []byte(c.password)) == 1
	if c.previous != "" && subtle.ConstantTimeCompare(pass, []byte(c.previous)) == 1 {
		ok = true
	}
	return ok
}

// New returns a Server with no primary; it is ready once SetPrimary or
// Resume gives it one.
func New(cfg Config) *Server {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.PrimaryWait <= 0 {
		cfg.PrimaryWait = 3 * time.Second
	}
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = 10 * time.Second
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 16 << 10
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.QueryBufferLimit <= 0 {
		cfg.QueryBufferLimit = DefaultQueryBufferLimit
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if v := os.Getenv("HAREDIS_PROXY_NO_IO_URING"); v != "" && v != "0" && v != "false" {
		cfg.NoIOURing = true
	}
	if cfg.Loops <= 0 {
		cfg.Loops = max(1, runtime.GOMAXPROCS(0)-1)
	}
	s := &Server{
		cfg:       cfg,
		changed:   make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
	s.SetPassword(cfg.Password, cfg.PreviousPassword)
	return s
}

// startLoopsLocked starts the event loops once.
func (s *Server) startLoopsLocked() error {
	for len(s.loops) < s.cfg.Loops {
		l, err := newLoop(s)
		if err != nil {
			return fmt.Errorf("cannot start an event loop: %w", err)
		}
		s.loops = append(s.loops, l)
	}
	return nil
}

// eachLoop returns the running loops.
func (s *Server) eachLoop() []*loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loops
}

// Serve accepts clients on l until l fails or Close is called.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("cannot serve: proxy closed")
	}
	if err := s.startLoopsLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			// Out of descriptors (a flood of connections, or a limit below
			// MaxClients): wait for some to close rather than stop serving.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("cannot accept clients: %w", err)
		}
		delay = 0
		s.m.accepted.Add(1)
		// Counted here rather than on the loop, so that a burst of
		// connections cannot pass the limit before the loops see them.
		if s.m.active.Add(1) > int64(s.cfg.MaxClients) {
			s.m.active.Add(-1)
			s.m.rejected.Add(1)
			if s.cfg.TLS != nil {
				// A plaintext reply means nothing to a client that
				// expects a handshake, and a handshake is what the
				// limit saves: closed, as Redis does with TLS.
				nc.Close()
				continue
			}
			refuse(nc, replyMaxClients)
			continue
		}
		if s.cfg.TLS != nil {
			go s.serveTLS(nc, time.Now())
			continue
		}
		fd, err := takeover(nc)
		if err != nil {
			s.m.active.Add(-1)
			s.cfg.Log.Error(err, "cannot serve a client connection")
			continue
		}
		s.handOver(fd, nil, time.Now())
	}
}

const replyMaxClients = "-ERR max number of clients reached\r\n"

// refuse answers a connection the proxy will not serve, as Redis does when
// it has maxclients clients, and closes it. The reply fits in the empty send
// buffer of a new socket; the deadline only guards against the impossible.
func refuse(nc net.Conn, reply string) {
	_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = io.WriteString(nc, reply)
	nc.Close()
}

// Close stops accepting and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	loops := s.loops
	s.mu.Unlock()
	for _, l := range loops {
		l.stop()
	}
}

// current returns the primary, its generation, and a channel closed at the
// next change.
func (s *Server) current() (string, uint64, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.primary, s.gen.Load(), s.changed
}

// Primary returns the primary the proxy forwards to.
func (s *Server) Primary() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.primary, s.primary != ""
}

// Ready reports whether the proxy has a confirmed primary.
func (s *Server) Ready() bool {
	_, ok := s.Primary()
	return ok
}

// SetPrimary switches forwarding to addr. Upstream connections to the
// previous primary are closed at once: connections idle at a command
// boundary move to addr with their next command, the others end.
func (s *Server) SetPrimary(addr string) {
	s.mu.Lock()
	if addr == s.primary || addr == "" {
		s.mu.Unlock()
		return
	}
	old := s.primary
	s.setPrimaryLocked(addr)
	if s.paused.Load() {
		s.movedInPause = true
	}
	s.mu.Unlock()
	s.cfg.Log.Info("primary changed", "old", old, "new", addr)
	s.dropStaleUpstreams()
}

func (s *Server) setPrimaryLocked(addr string) {
	if s.primary != "" {
		s.m.primaryChanges.Add(1)
	}
	s.primary = addr
	s.gen.Add(1)
	s.broadcastLocked()
}

func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) dropStaleUpstreams() {
	gen := s.gen.Load()
	for _, l := range s.eachLoop() {
		l.post(func() { l.dropStale(gen) })
	}
}

// Pause holds every connection's next command at its command boundary and
// waits until commands already sent have their replies (connections blocked
// in BLPOP and the like, or subscribed, are not waited for: they cannot be
// carried to a new primary anyway). It returns how many connections still
// had replies outstanding when ctx ended. The pause ends with Resume, or by
// itself after MaxPause.
func (s *Server) Pause(ctx context.Context) (busy int) {
	s.mu.Lock()
	if !s.paused.Load() {
		s.m.pauses.Add(1)
		s.paused.Store(true)
		s.movedInPause = false
		s.broadcastLocked()
	}
	if s.pauseTimer != nil {
		s.pauseTimer.Stop()
	}
	s.pauseTimer = time.AfterFunc(s.cfg.MaxPause, func() {
		s.m.pauseTimeouts.Add(1)
		s.cfg.Log.Info("pause reached its maximum duration, resuming", "maxPause", s.cfg.MaxPause.String())
		s.Resume("")
	})
	s.mu.Unlock()
	s.cfg.Log.Info("paused")
	for {
		busy = s.busyConns()
		if busy == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return busy
		case <-time.After(time.Millisecond):
		}
	}
}

// busyConns counts the connections Pause waits for. Each loop counts its
// own: a batch a loop is handling when the pause starts either is counted
// in sent by then or sees the pause.
func (s *Server) busyConns() int {
	n := 0
	for _, l := range s.eachLoop() {
		l.call(func() { n += l.busy() })
	}
	return n
}

// Paused reports whether commands are being held.
func (s *Server) Paused() bool { return s.paused.Load() }

// Resume releases held commands, to primary when it is not empty (it then
// becomes the primary as with SetPrimary, before anything is released),
// unless SetPrimary moved to another primary during the pause: what
// Sentinel chose and confirmed meanwhile is newer than what the caller
// knew when it asked to resume.
func (s *Server) Resume(primary string) {
	s.mu.Lock()
	old := s.primary
	if primary != "" && primary != s.primary && s.movedInPause {
		s.cfg.Log.Info("keeping the primary Sentinel named during the pause", "primary", s.primary, "asked", primary)
		primary = ""
	}
	changed := primary != "" && primary != s.primary
	if changed {
		s.setPrimaryLocked(primary)
	}
	s.movedInPause = false
	if s.pauseTimer != nil {
		s.pauseTimer.Stop()
		s.pauseTimer = nil
	}
	if s.paused.Load() {
		s.paused.Store(false)
		s.broadcastLocked()
	}
	s.mu.Unlock()
	if changed {
		s.cfg.Log.Info("primary changed at resume", "old", old, "new", primary)
		s.dropStaleUpstreams()
	}
	for _, l := range s.eachLoop() {
		l.post(l.release)
	}
	s.cfg.Log.Info("resumed", "primary", primary)
}
