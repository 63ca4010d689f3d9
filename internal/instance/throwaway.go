package instance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redisconf"
	"github.com/haredis/haredis/internal/supervise"
)

// throwaway is a redis-server started only to check a parameter group: no
// TCP port, a Unix socket and an empty directory of its own, so it never
// touches the running server or its data.
type throwaway struct {
	dir    string
	proc   *supervise.Process
	client *redis.Client
}

// RefusedError is Redis refusing a parameter group; Message is Redis's own
// text.
type RefusedError struct {
	Directive string
	Message   string
}

// Is makes errors.Is(err, ErrRedisRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRedisRefused }

func (e *RefusedError) Error() string {
	if e.Directive != "" {
		return fmt.Sprintf("redis refused %s: %s", e.Directive, e.Message)
	}
	return "redis refused the configuration: " + e.Message
}

// startThrowaway starts a throwaway redis-server with group rendered the
// way the real one would be. A *RefusedError says Redis refused the group.
func (m *Manager) startThrowaway(ctx context.Context, group map[string]string) (*throwaway, error) {
	dir, err := os.MkdirTemp(m.opts.RunDir, "validate-")
	if err != nil {
		return nil, fmt.Errorf("cannot validate the parameter group: %w", err)
	}
	t := &throwaway{dir: dir}
	in := m.renderInput("", group)
	in.Port, in.Bind, in.DataDir, in.AnnounceHost, in.AnnouncePort = 0, []string{"127.0.0.1"}, dir, "", 0
	in.UnixSocket = filepath.Join(dir, "s")
	conf, err := redisconf.Render(in)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("cannot validate the parameter group: %w", err)
	}
	path := filepath.Join(dir, "redis.conf")
	out, err := os.Create(filepath.Join(dir, "out"))
	if err == nil {
		err = os.WriteFile(path, conf, 0o600)
	}
	if err != nil {
		t.close()
		return nil, fmt.Errorf("cannot validate the parameter group: %w", err)
	}
	cmd := exec.Command(m.binary, path)
	cmd.Stdout, cmd.Stderr, cmd.Dir = out, out, dir
	t.proc, err = m.opts.Reaper.Start(cmd)
	out.Close()
	if err != nil {
		t.close()
		return nil, fmt.Errorf("cannot validate the parameter group: %w", err)
	}
	t.client = redis.NewClient(&redis.Options{Network: "unix", Addr: in.UnixSocket, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 5 * time.Second, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	deadline := time.Now().Add(m.opts.ValidateTimeout)
	for {
		select {
		case <-t.proc.Done():
			b, _ := os.ReadFile(filepath.Join(dir, "out"))
			t.close()
			return nil, refusal(string(b))
		default:
		}
		if err := t.client.Ping(ctx).Err(); err == nil {
			return t, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.close()
			return nil, fmt.Errorf("cannot validate the parameter group: the throwaway redis-server did not answer within %s", m.opts.ValidateTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusal extracts Redis's message from its fatal config error:
//
//	*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***
//	Reading the configuration file, at line 17
//	>>> 'maxmemory-policy "bogus"'
//	argument(s) must be one of the following: ...
func refusal(output string) error {
	lines := strings.Split(strings.TrimSpace(output), "\n")
	for i, l := range lines {
		if d, ok := strings.CutPrefix(strings.TrimSpace(l), ">>> "); ok {
			msg := ""
			if i+1 < len(lines) {
				msg = strings.TrimSpace(lines[i+1])
			}
			return &RefusedError{Directive: strings.Trim(d, "'"), Message: msg}
		}
	}
	return &RefusedError{Message: strings.TrimSpace(lastLines(output, 3))}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (t *throwaway) close() {
	if t.client != nil {
		_ = t.client.Close()
	}
	if t.proc != nil {
		_ = t.proc.SignalGroup(syscall.SIGKILL)
		<-t.proc.Done()
	}
	_ = os.RemoveAll(t.dir)
}

// validate checks a group with a throwaway redis-server.
func (m *Manager) validate(ctx context.Context, group map[string]string) error {
	t, err := m.startThrowaway(ctx, group)
	if err != nil {
		return err
	}
	defer t.close()
	m.setCanonical(canonical(ctx, t, group))
	return nil
}

// canonical asks a throwaway server running group for the values Redis
// reports for the group's parameters (its own forms: bytes for 1gb, flags
// in its own order), against which the running server is compared.
func canonical(ctx context.Context, t *throwaway, group map[string]string) map[string]string {
	if len(group) == 0 {
		return map[string]string{}
	}
	args := []any{"CONFIG", "GET"}
	for k := range group {
		args = append(args, k)
	}
	v, err := t.client.Do(ctx, args...).Result()
	if err != nil {
		return nil
	}
	return pairs(v)
}
