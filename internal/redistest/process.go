package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/supervise"

	"github.com/redis/go-redis/v9"
)

// StartTimeout bounds how long a process may take to answer PING.
const StartTimeout = 10 * time.Second

// process is one running redis-server or redis-sentinel.
type process struct {
	binary   string
	dir      string
	confPath string
	port     int
	password string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is host:port on loopback.
func (p *process) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Port is the TCP port the process listens on.
func (p *process) Port() int { return p.port }

// Dir is the process's working directory (config, data, log).
func (p *process) Dir() string { return p.dir }

// start writes the config rendered for a fresh port and starts the process,
// retrying with another port when the chosen one was taken meanwhile.
func (p *process) start(render func(port int) string) error {
	var lastErr error
	for range 3 {
		port := p.port
		if port == 0 {
			var err error
			if port, err = FreePort(); err != nil {
				return err
			}
		}
		if err := os.WriteFile(p.confPath, []byte(render(port)), 0o600); err != nil {
			return fmt.Errorf("cannot write %s: %w", p.confPath, err)
		}
		p.port = port
		if lastErr = p.run(); lastErr == nil {
			return nil
		}
		p.port = 0
	}
	return lastErr
}

// run starts the binary on the current config and waits until it answers.
func (p *process) run() error {
	cmd := exec.Command(p.binary, p.confPath)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.OpenFile(filepath.Join(p.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := supervise.StartTied(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("cannot start %s: %w", p.binary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), Password: p.password, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start: %s", p.binary, p.logTail())
		case <-ctx.Done():
			p.Kill()
			return fmt.Errorf("%s did not answer PING within %s: %s", p.binary, StartTimeout, p.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *process) logTail() string {
	var all []byte
	for _, name := range []string{"stdout.log", "redis.log"} {
		b, _ := os.ReadFile(filepath.Join(p.dir, name))
		all = append(all, b...)
	}
	if len(all) > 2000 {
		all = all[len(all)-2000:]
	}
	return string(bytes.TrimSpace(all))
}

// Running reports whether the process has been started and not exited.
func (p *process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *process) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 10 s).
func (p *process) Stop() { p.signal(syscall.SIGTERM) }

func (p *process) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the process again on the same port and config.
func (p *process) Restart() error {
	if p.Running() {
		return errors.New("cannot restart a running process")
	}
	return p.run()
}

// Close kills the process and removes its directory.
func (p *process) Close() {
	p.Kill()
	_ = os.RemoveAll(p.dir)
}

// Client returns a go-redis client for this process; the caller closes it.
func (p *process) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: p.Addr(), Password: p.password})
}

// newProcess prepares a process of binary, a name looked up in PATH or a
// path (made absolute: the process runs in its own directory).
func newProcess(binary, prefix, password string) (*process, error) {
	if strings.ContainsRune(binary, filepath.Separator) {
		abs, err := filepath.Abs(binary)
		if err != nil {
			return nil, fmt.Errorf("cannot find %s: %w", binary, err)
		}
		binary = abs
	}
	dir, err := os.MkdirTemp("", "haredis-"+prefix+"-")
	if err != nil {
		return nil, fmt.Errorf("cannot create directory for %s: %w", binary, err)
	}
	return &process{binary: binary, dir: dir, confPath: filepath.Join(dir, prefix+".conf"), password: password}, nil
}

func confLine(b *strings.Builder, format string, args ...any) {
	fmt.Fprintf(b, format+"\n", args...)
}

// StablePort returns a free loopback port below the kernel's ephemeral range,
// for a server that restarts on the same port many times: a port from the
// ephemeral range (what FreePort gives) can meanwhile become the local port
// of some outgoing connection or of another test's server.
func StablePort(t testing.TB) int {
	t.Helper()
	port, err := PickStablePort(nil)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// PickStablePort is StablePort for programs: a free loopback port below
// the kernel's ephemeral range that is not in taken (nil: none), which
// it adds there.
func PickStablePort(taken map[int]bool) (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const base = 10000
	if low <= base+1000 {
		return 0, fmt.Errorf("the ephemeral port range starts at %d: no room for stable ports", low)
	}
	for range 200 {
		port := base + rand.IntN(low-base)
		if taken[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		if taken != nil {
			taken[port] = true
		}
		return port, nil
	}
	return 0, fmt.Errorf("cannot find a free port below the ephemeral range")
}
