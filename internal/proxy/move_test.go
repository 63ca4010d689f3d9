package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// rawSession is a hand-driven client connection.
type rawSession struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawSession {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawSession{nc: nc, br: bufio.NewReader(nc)}
}

// do sends inline commands and returns as many reply lines.
func (r *rawSession) do(t *testing.T, cmds ...string) []string {
	t.Helper()
	if _, err := io.WriteString(r.nc, strings.Join(cmds, "\r\n")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	var out []string
	for range cmds {
		l, err := r.br.ReadString('\n')
		if err != nil {
			out = append(out, "error: "+err.Error())
			return out
		}
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func TestPrimaryChangeMovesIdleSessionsAndEndsTheOthers(t *testing.T) {
	a, b := startServer(t), startServer(t)
	s, addr := startProxy(t, a.Addr(), nil)
	ctx := ctxT(t)

	mover := client(t, addr, func(o *redis.Options) { o.DB = 2; o.ClientName = "mover"; o.PoolSize = 1 })
	if err := mover.Set(ctx, "k", "on-a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	inMulti := dialRaw(t, addr)
	if got := inMulti.do(t, "AUTH "+testPassword, "MULTI", "SET x 1"); fmt.Sprint(got) != "[+OK +OK +QUEUED]" {
		t.Fatalf("MULTI session: %v", got)
	}
	watching := dialRaw(t, addr)
	if got := watching.do(t, "AUTH "+testPassword, "WATCH k"); fmt.Sprint(got) != "[+OK +OK]" {
		t.Fatalf("WATCH session: %v", got)
	}
	sub := client(t, addr, nil).Subscribe(ctx, "ch")
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		blocked <- client(t, addr, nil).BLPop(ctx, 30*time.Second, "never").Err()
	}()
	direct := a.Client()
	defer direct.Close()
	waitBlocked(t, direct, 1)

	s.SetPrimary(b.Addr())
	// Nothing of the proxy's stays connected to the old primary.
	redistest.WaitFor(t, 5*time.Second, "the old primary to keep only the test's own client", func(ctx context.Context) error {
		list := direct.ClientList(ctx).Val()
		if n := strings.Count(list, "\n"); n != 1 {
			return fmt.Errorf("old primary still has %d clients:\n%s", n, list)
		}
		return nil
	})

	// The idle session moves with its database, name and protocol.
	if v, err := mover.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k after the move = %q, %v; want nil from the new primary", v, err)
	}
	if err := mover.Set(ctx, "k", "on-b", 0).Err(); err != nil {
		t.Fatal(err)
	}
	info := mover.Do(ctx, "CLIENT", "INFO").String()
	for _, want := range []string{"name=mover", "db=2", "resp=3"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLIENT INFO on the new primary lacks %s: %s", want, info)
		}
	}
	b2 := redis.NewClient(&redis.Options{Addr: b.Addr(), Password: testPassword, DB: 2})
	defer b2.Close()
	if v := b2.Get(ctx, "k").Val(); v != "on-b" {
		t.Fatalf("new primary db 2 has k=%q", v)
	}
	// The others end, with an error reply or a closed connection.
	if got := inMulti.do(t, "EXEC"); !strings.HasPrefix(got[0], "-ERR haredis") {
		t.Errorf("EXEC after the move: %v", got)
	}
	if got := watching.do(t, "MULTI"); !strings.HasPrefix(got[0], "-ERR haredis") {
		t.Errorf("WATCH session after the move: %v", got)
	}
	if _, err := sub.ReceiveTimeout(ctx, 10*time.Second); err == nil || isTimeout(err) {
		t.Errorf("subscription after the move: %v, want a closed connection", err)
	}
	select {
	case err := <-blocked:
		if err == nil || errors.Is(err, redis.Nil) {
			t.Errorf("BLPOP in flight during the move returned %v, want an error", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("BLPOP still blocked after the move")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPauseHoldsCommandsAndResumeSendsThemToTheNewPrimary(t *testing.T) {
	a, b := startServer(t), startServer(t)
	s, addr := startProxy(t, a.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.PoolSize = 1 })
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// A slow script in flight: Pause must wait for its reply. The script's
	// client is connected first, so that the wait below sees the script and
	// not the connection's set-up (which Pause waits for too).
	sc := client(t, addr, nil)
	if err := sc.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		slow <- sc.Eval(ctx, `local s=redis.call('TIME') while true do local n=redis.call('TIME') if (n[1]-s[1])*1000000+(n[2]-s[2]) > 300000 then redis.call('SET', 'script-done', '1') return 1 end end`, nil).Err()
	}()
	redistest.WaitFor(t, 10*time.Second, "the script in flight", func(ctx context.Context) error {
		if s.busyConns() == 0 {
			return errors.New("script not in flight yet")
		}
		return nil
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if busy := s.Pause(pctx); busy != 0 {
		t.Fatalf("Pause left %d busy connections", busy)
	}
	// Pause answers once the proxy has the reply; the client goroutine may
	// take a moment more to see it.
	ac := a.Client()
	defer ac.Close()
	if ac.Get(ctx, "script-done").Val() != "1" {
		t.Fatal("Pause returned before the in-flight reply")
	}
	select {
	case err := <-slow:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to the script")
	}
	held := make(chan error, 1)
	go func() { held <- c.Set(ctx, "during-pause", "1", 0).Err() }()
	redistest.WaitFor(t, 10*time.Second, "the command held", func(ctx context.Context) error {
		if s.m.held.Load() != 1 {
			return errors.New("command not held yet")
		}
		return nil
	})
	s.Resume(b.Addr())
	if err := <-held; err != nil {
		t.Fatalf("held command failed: %v", err)
	}
	bc := b.Client()
	defer bc.Close()
	if bc.Get(ctx, "during-pause").Val() != "1" || ac.Exists(ctx, "during-pause").Val() != 0 {
		t.Fatal("the held command did not go to the new primary only")
	}
}

// TestResumeKeepsWhatSentinelChoseDuringThePause: a planned switchover
// gives up and resumes to the primary it started from, while Sentinel
// promoted another instance meanwhile and the proxy followed it. The held
// command must go to Sentinel's primary, not back to the old one (which
// Sentinel is about to demote: every write would then fail READONLY).
func TestResumeKeepsWhatSentinelChoseDuringThePause(t *testing.T) {
	a, b := startServer(t), startServer(t)
	s, addr := startProxy(t, a.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.PoolSize = 1 })
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s.Pause(ctx)
	held := make(chan error, 1)
	go func() { held <- c.Set(ctx, "during-pause", "1", 0).Err() }()
	redistest.WaitFor(t, 10*time.Second, "the command held", func(ctx context.Context) error {
		if s.m.held.Load() != 1 {
			return errors.New("command not held yet")
		}
		return nil
	})
	s.SetPrimary(b.Addr())
	s.Resume(a.Addr())
	if err := <-held; err != nil {
		t.Fatalf("held command failed: %v", err)
	}
	if p, _ := s.Primary(); p != b.Addr() {
		t.Fatalf("primary %s after resume, want %s (Sentinel's)", p, b.Addr())
	}
	bc, ac := b.Client(), a.Client()
	defer bc.Close()
	defer ac.Close()
	if bc.Get(ctx, "during-pause").Val() != "1" || ac.Exists(ctx, "during-pause").Val() != 0 {
		t.Fatal("the held command did not go to Sentinel's primary only")
	}

	// Without a move during the next pause, Resume names the primary again.
	s.Pause(ctx)
	s.Resume(a.Addr())
	if p, _ := s.Primary(); p != a.Addr() {
		t.Fatalf("primary %s after resume, want %s", p, a.Addr())
	}
}

func TestPauseEndsByItself(t *testing.T) {
	a := startServer(t)
	s, addr := startProxy(t, a.Addr(), func(c *Config) { c.MaxPause = 300 * time.Millisecond })
	ctx := ctxT(t)
	c := client(t, addr, nil)
	s.Pause(ctx)
	start := time.Now()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if s.Paused() || s.m.pauseTimeouts.Load() != 1 {
		t.Fatalf("paused=%v timeouts=%d after %v", s.Paused(), s.m.pauseTimeouts.Load(), time.Since(start))
	}
}

func TestForwardingDoesNotAllocate(t *testing.T) {
	a := startServer(t)
	_, addr := startProxy(t, a.Addr(), nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := fmt.Fprintf(nc, "AUTH %s\r\nSET k v\r\n", testPassword); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 64)
	if _, err := io.ReadFull(nc, reply[:10]); err != nil {
		t.Fatal(err)
	}
	// Sixteen pipelined commands per round trip, as redis-benchmark -P 16.
	batch := []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 16))
	want := strings.Repeat("$1\r\nv\r\n", 16)
	buf := make([]byte, len(want))
	roundTrip := func() {
		if _, err := nc.Write(batch); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != want {
			t.Fatalf("got %q, %v", buf, err)
		}
	}
	for range 100 {
		roundTrip() // warm up buffers and goroutines
	}
	if allocs := testing.AllocsPerRun(2000, roundTrip); allocs != 0 {
		t.Errorf("%v allocations per 16 forwarded commands, want 0", allocs)
	}
}

func BenchmarkForwardPipeline16(b *testing.B) {
	a := startServer(b)
	_, addr := startProxy(b, a.Addr(), nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "AUTH %s\r\nSET k v\r\n", testPassword)
	io.ReadFull(nc, make([]byte, 10))
	batch := []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 16))
	buf := make([]byte, 16*7)
	b.ReportAllocs()
	for b.Loop() {
		nc.Write(batch)
		if _, err := io.ReadFull(nc, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSelectInsideTransactionPinsTheSession(t *testing.T) {
	a, b := startServer(t), startServer(t)
	s, addr := startProxy(t, a.Addr(), nil)
	raw := dialRaw(t, addr)
	if got := raw.do(t, "AUTH "+testPassword, "MULTI", "SELECT 5", "DISCARD"); fmt.Sprint(got) != "[+OK +OK +QUEUED +OK]" {
		t.Fatalf("session: %v", got)
	}
	s.SetPrimary(b.Addr())
	// The database after DISCARD is 0, but the proxy cannot tell from the
	// replies: it must not guess.
	got := raw.do(t, "SET k v")
	if !strings.HasPrefix(got[0], "-ERR haredis") && !strings.HasPrefix(got[0], "error: ") {
		t.Fatalf("SET after the move: %v, want an error reply or a closed connection", got)
	}
}
