package switchover

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/writeload"
)

// strictFailoverClient is a Sentinel-aware client that shows everything a
// switchover does to it: go-redis's FailoverClient with no retry and short
// timeouts, so that every error reply and every broken connection reaches
// the write load.
func strictFailoverClient(s *redistest.Set) *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: s.Cfg.MasterName, SentinelAddrs: s.SentinelAddrs(),
		Password: password, SentinelPassword: password, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
	})
}

// pythonWithRedis returns a python3 that can import redis (redis-py), or
// "" when there is none.
func pythonWithRedis() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import redis.sentinel").Run() == nil {
			return py
		}
	}
	return ""
}

// pyWriter is testdata/sentinel_writer.py running: redis-py's Sentinel
// client writing PREFIX:N, its outcomes fed to a Recorder.
type pyWriter struct {
	*writeload.Recorder
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}

	mu      sync.Mutex
	lastErr string
}

func startPyWriter(t *testing.T, py string, s *redistest.Set, prefix string) *pyWriter {
	t.Helper()
	args := append([]string{"testdata/sentinel_writer.py", s.Cfg.MasterName, password, prefix}, s.SentinelAddrs()...)
	cmd := exec.Command(py, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the redis-py writer: %v", err)
	}
	w := &pyWriter{Recorder: writeload.NewRecorder(prefix), cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.record(sc.Text())
		}
		_ = cmd.Wait()
		if s := strings.TrimSpace(stderr.String()); s != "" {
			w.mu.Lock()
			w.lastErr = s
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// record parses one line of sentinel_writer.py.
func (w *pyWriter) record(line string) {
	kind, rest, _ := strings.Cut(line, " ")
	num, msg, _ := strings.Cut(rest, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return
	}
	switch kind {
	case "ack":
		w.Ack(n)
	case "reply":
		w.Fail("redis-py: "+msg, true)
	case "conn":
		w.Fail("redis-py: "+msg, false)
	}
}

func (w *pyWriter) stop() writeload.Report {
	_ = w.stdin.Close()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	return w.Report()
}

// WaitAcked also says why the writer stopped, if it did.
func (w *pyWriter) WaitAcked(ctx context.Context, n int) error {
	err := w.Recorder.WaitAcked(ctx, n)
	if err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		select {
		case <-w.done:
			return fmt.Errorf("the redis-py writer exited: %s: %w", w.lastErr, err)
		default:
		}
	}
	return err
}
