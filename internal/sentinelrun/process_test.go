package sentinelrun

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// sentinelProc is redis-sentinel running on a file rendered by Prepare, in
// its own directory that outlives the process, as a pod's run directory
// outlives a container restart.
type sentinelProc struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func newSentinelDir(t *testing.T, port int) *sentinelProc {
	return &sentinelProc{t: t, dir: t.TempDir(), port: port}
}

func (s *sentinelProc) path() string { return filepath.Join(s.dir, "sentinel.conf") }
func (s *sentinelProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// previous is what the last run left in the directory ("" for none).
func (s *sentinelProc) previous() string {
	b, _ := os.ReadFile(s.path())
	return string(b)
}

// start writes conf and runs redis-sentinel until it answers PING.
func (s *sentinelProc) start(ctx context.Context, conf, password string) {
	s.t.Helper()
	if err := os.WriteFile(s.path(), []byte(conf), 0o600); err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command("redis-sentinel", s.path())
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	s.t.Cleanup(s.kill)
	c := s.client(password)
	defer c.Close()
	err = redistest.Wait(ctx, 20*time.Millisecond, func() error {
		select {
		case <-done:
			return fmt.Errorf("redis-sentinel exited: %s", s.log())
		default:
		}
		return c.Ping(ctx).Err()
	})
	if err != nil {
		s.t.Fatalf("sentinel on %s does not start: %v\n%s", s.addr(), err, s.log())
	}
}

// kill ends the process as a killed container: no chance to write anything.
func (s *sentinelProc) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func (s *sentinelProc) client(password string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.addr(), Password: password, MaxRetries: -1, DialTimeout: time.Second})
}

func (s *sentinelProc) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}
