package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server or redis-sentinel.
type Server struct {
	Port int
	Addr string
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartServer starts redis-server on a free loopback port with extra config
// lines (for example "requirepass x").
func StartServer(t testing.TB, lines ...string) *Server {
	t.Helper()
	return start(t, "redis-server", lines)
}

// StartSentinel starts redis-sentinel on a free loopback port with extra
// config lines (for example "sentinel resolve-hostnames yes").
func StartSentinel(t testing.TB, lines ...string) *Server {
	t.Helper()
	return start(t, "redis-sentinel", lines)
}

func start(t testing.TB, binary string, lines []string) *Server {
	t.Helper()
	var lastErr error
	// A port found free can be taken before the server binds it: retry.
	for attempt := 0; attempt < 5; attempt++ {
		s, err := tryStart(t, binary, lines)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("cannot start %s: %v", binary, lastErr)
	return nil
}

func tryStart(t testing.TB, binary string, lines []string) (*Server, error) {
	dir := t.TempDir()
	port := FreePort(t)
	conf := []string{
		"port " + strconv.Itoa(port), "bind 127.0.0.1", "dir " + dir, "save \"\"",
		"appendonly no", "daemonize no", "logfile " + filepath.Join(dir, "log"),
	}
	conf = append(conf, lines...)
	path := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	s := &Server{Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(binary, path)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig follows the forking thread: keep it until the child ends.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return nil, fmt.Errorf("%s exited: %s", binary, lastLines(string(log), 5))
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return nil, fmt.Errorf("%s did not listen on %s within 5s", binary, s.Addr)
}

// Kill stops the server with SIGKILL and waits for it.
func (s *Server) Kill() {
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Client returns a go-redis client for the server, closed with the test.
func (s *Server) Client(t testing.TB, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: password, DisableIdentity: true, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Log returns the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
	return string(b)
}

// Eventually polls cond every 50 ms until it returns nil or the deadline
// passes, then fails the test with the last error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = cond(ctx); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
