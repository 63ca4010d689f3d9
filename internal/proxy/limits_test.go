package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// exchange sends in on a new connection to addr and returns what comes back
// until the server closes the connection, and whether it did (rather than
// the read timing out after 10 s).
func exchange(t *testing.T, addr string, in string) (string, bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, in); err != nil {
		t.Fatal(err)
	}
	return readUntilClosed(nc, 10*time.Second)
}

// readUntilClosed reads until the peer closes the connection (end of
// stream or reset) or wait passes.
func readUntilClosed(nc net.Conn, wait time.Duration) (string, bool) {
	nc.SetReadDeadline(time.Now().Add(wait))
	var got bytes.Buffer
	_, err := got.ReadFrom(nc)
	var ne net.Error
	return got.String(), !(errors.As(err, &ne) && ne.Timeout())
}

// mustWork checks that a client unrelated to the misbehaving ones is served.
func mustWork(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := ctxT(t)
	v := fmt.Sprint(time.Now().UnixNano())
	if err := c.Set(ctx, "bystander", v, 0).Err(); err != nil {
		t.Fatalf("another client: SET: %v", err)
	}
	if got, err := c.Get(ctx, "bystander").Result(); err != nil || got != v {
		t.Fatalf("another client: GET = %q, %v", got, err)
	}
}

// TestUnauthenticatedLimitsAsRedis sends the same input to redis-server and
// to the proxy before authenticating: both must refuse it with the same
// reply and close the connection, from the headers alone, and accept what
// is just within the limits.
func TestUnauthenticatedLimitsAsRedis(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	other := client(t, addr, nil)
	const (
		multibulk = "-ERR Protocol error: unauthenticated multibulk length\r\n"
		bulk      = "-ERR Protocol error: unauthenticated bulk length\r\n"
	)
	// Input within the limits is followed by QUIT: its +OK shows that the
	// connection stayed open after the first reply.
	for _, tc := range []struct {
		name, in, want string
	}{
		{"a million-element array", "*1000000\r\n", multibulk},
		{"eleven elements", "*11\r\n$4\r\nPING\r\n", multibulk},
		{"ten elements", "*10\r\n" + strings.Repeat("$4\r\nPING\r\n", 10) + "QUIT\r\n", replyNoAuth + "+OK\r\n"},
		{"a bulk string of 16385 bytes", "*2\r\n$4\r\nECHO\r\n$16385\r\n", bulk},
		{"a bulk string of 16384 bytes", "*2\r\n$4\r\nECHO\r\n$16384\r\n" + strings.Repeat("x", 16384) + "\r\nQUIT\r\n", replyNoAuth + "+OK\r\n"},
		{"a bulk string of 512 MiB", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n", bulk},
		// Over proto-max-bulk-len: Redis checks that before the
		// unauthenticated limit.
		{"a bulk string of 1 GiB", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		// Without a newline: Redis looks for it only in what it has read,
		// so a longer line may pass when it arrives in one read.
		{"an inline command of 70000 bytes", strings.Repeat("a", 70000), "-ERR Protocol error: too big inline request\r\n"},
		{"a number where a bulk string goes", "*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []struct{ name, addr string }{{"redis-server", r.Addr()}, {"proxy", addr}} {
				got, closed := exchange(t, target.addr, tc.in)
				if got != tc.want || !closed {
					t.Errorf("%s: got %q (closed %v), want %q", target.name, got, closed, tc.want)
				}
			}
			mustWork(t, other)
		})
	}
	// AUTH lifts the limits for the commands after it, in the same read.
	value := strings.Repeat("v", 20000)
	mset := "*11\r\n$4\r\nMSET\r\n" + strings.Repeat("$1\r\nk\r\n$1\r\nv\r\n", 5)
	got, _ := exchange(t, addr, fmt.Sprintf("AUTH %s\r\n*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n%sQUIT\r\n",
		testPassword, len(value), value, mset))
	if want := fmt.Sprintf("+OK\r\n$%d\r\n%s\r\n+OK\r\n+OK\r\n", len(value), value); got != want {
		t.Errorf("after AUTH: got %.80q, want %.80q", got, want)
	}
	// RESET makes the client unauthenticated again, and the limits return.
	got, _ = exchange(t, addr, fmt.Sprintf("AUTH %s\r\nRESET\r\n*11\r\n", testPassword))
	if want := "+OK\r\n+RESET\r\n" + multibulk; got != want {
		t.Errorf("after RESET: got %q, want %q", got, want)
	}
}

// TestNoUnauthenticatedLimitsWithoutPassword: without a password every
// client is authenticated, as in Redis.
func TestNoUnauthenticatedLimitsWithoutPassword(t *testing.T) {
	r, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	_, addr := startProxy(t, r.Addr(), func(c *Config) { c.Password = "" })
	value := strings.Repeat("v", 20000)
	in := fmt.Sprintf("*11\r\n$4\r\nMSET\r\n%s*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\nQUIT\r\n", strings.Repeat("$1\r\nk\r\n$1\r\nv\r\n", 5), len(value), value)
	got, closed := exchange(t, addr, in)
	if want := fmt.Sprintf("+OK\r\n$%d\r\n%s\r\n+OK\r\n", len(value), value); got != want || !closed {
		t.Errorf("got %.80q (closed %v), want %.80q", got, closed, want)
	}
}

// TestQueryBufferLimit: an authenticated client whose command is longer
// than the limit gets an error and is closed, whether its headers say so
// at once or the bytes pile up; a command within the limit goes through,
// and other clients are served meanwhile.
func TestQueryBufferLimit(t *testing.T) {
	r := startServer(t)
	const limit = 1 << 20
	_, addr := startProxy(t, r.Addr(), func(c *Config) { c.QueryBufferLimit = limit })
	other := client(t, addr, nil)
	ctx := ctxT(t)

	// A bystander writes and reads all along.
	stop := make(chan struct{})
	bystander := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				bystander <- nil
				return
			default:
			}
			if err := other.Set(ctx, "by", i, 0).Err(); err != nil {
				bystander <- err
				return
			}
			if v, err := other.Get(ctx, "by").Int(); err != nil || v != i {
				bystander <- fmt.Errorf("GET by = %d, %v; want %d", v, err, i)
				return
			}
		}
	}()

	auth := fmt.Sprintf("AUTH %s\r\n", testPassword)
	for _, tc := range []struct {
		name string
		head string // sent first
		body func(io.Writer) error
	}{
		{"a bulk string declared over the limit", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n", streamFor(1 << 30)},
		{"an array declared over the limit", "*200000\r\n", streamFor(1 << 30)},
		{"small elements piling up over the limit", "*100000\r\n", func(w io.Writer) error {
			_, err := io.WriteString(w, strings.Repeat("$10\r\n0123456789\r\n", 100000))
			return err
		}},
		{"an inline command", "SET k ", streamFor(1 << 30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(nc, auth+tc.head); err != nil {
				t.Fatal(err)
			}
			wrote := make(chan error, 1)
			go func() { wrote <- tc.body(nc) }()
			got, closed := readUntilClosed(nc, 20*time.Second)
			want := "+OK\r\n"
			if tc.name == "an inline command" {
				want += "-ERR Protocol error: too big inline request\r\n" // 64 KiB, before 1 MiB
			} else {
				want += replyQueryBufferLimit
			}
			if got != want || !closed {
				t.Errorf("got %q (closed %v), want %q", got, closed, want)
			}
			<-wrote
		})
	}
	// Within the limit.
	value := strings.Repeat("w", limit-100)
	if err := other.Set(ctx, "big", value, 0).Err(); err != nil {
		t.Fatalf("SET of %d bytes under a limit of %d: %v", len(value), limit, err)
	}
	if got := other.Get(ctx, "big").Val(); got != value {
		t.Fatalf("GET big: %d bytes", len(got))
	}
	close(stop)
	if err := <-bystander; err != nil {
		t.Fatalf("a client beside the refused ones: %v", err)
	}
}

// streamFor returns a body that writes up to n bytes of 'x' in 64 KiB
// pieces, until the proxy closes the connection.
func streamFor(n int) func(io.Writer) error {
	return func(w io.Writer) error {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestHostileHeadersKeepMemoryFlat: clients that declare a 1 GiB string or
// a million-element array and then stream data are refused at once, and
// the proxy's memory does not grow with what they send.
func TestHostileHeadersKeepMemoryFlat(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil) // the default limits
	other := client(t, addr, nil)
	mustWork(t, other)
	const streamed = 1 << 30
	for _, tc := range []struct {
		name, head, want string
	}{
		{"unauthenticated, a 1 GiB string", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"unauthenticated, a 256 MiB string", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$268435456\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n"},
		{"unauthenticated, a million-element array", "*1000000\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"},
		{"authenticated, a 256 MiB string", "AUTH " + testPassword + "\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$268435456\r\n", "+OK\r\n" + replyQueryBufferLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := memory()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			start := time.Now()
			if _, err := io.WriteString(nc, tc.head); err != nil {
				t.Fatal(err)
			}
			var sent int
			wrote := make(chan error, 1)
			go func() {
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for sent < streamed {
					if _, err := nc.Write(chunk); err != nil {
						wrote <- err
						return
					}
					sent += len(chunk)
				}
				wrote <- nil
			}()
			got, closed := readUntilClosed(nc, 20*time.Second)
			refusedIn := time.Since(start)
			if got != tc.want || !closed {
				t.Fatalf("got %q (closed %v), want %q", got, closed, tc.want)
			}
			if err := <-wrote; err == nil {
				t.Fatalf("the proxy took %d bytes without closing", sent)
			}
			after := memory()
			t.Logf("refused in %v after %d KiB streamed; heap in use %d KiB before, %d KiB after; %d KiB allocated meanwhile; RSS %d KiB before, %d KiB after",
				refusedIn.Round(time.Millisecond), sent>>10, before.heapInuse>>10, after.heapInuse>>10, (after.totalAlloc-before.totalAlloc)>>10, before.rss>>10, after.rss>>10)
			if sent > 256<<20 {
				t.Errorf("%d MiB streamed before the connection ended", sent>>20)
			}
			if grew := int64(after.heapInuse) - int64(before.heapInuse); grew > 8<<20 {
				t.Errorf("heap in use grew by %d KiB", grew>>10)
			}
			// Nothing the size of the declared payload was ever allocated,
			// not even briefly.
			if alloc := after.totalAlloc - before.totalAlloc; alloc > 8<<20 {
				t.Errorf("%d KiB allocated while refusing", alloc>>10)
			}
			mustWork(t, other)
		})
	}
}

type memStats struct{ heapInuse, totalAlloc, rss uint64 }

func memory() memStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memStats{heapInuse: m.HeapInuse, totalAlloc: m.TotalAlloc, rss: rss()}
}

// rss is the process's resident set size, 0 when it cannot be read.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(l, "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}

// TestMaxClients: beyond the limit a new connection gets Redis's error and
// is closed; the clients already connected are served, and a place freed
// is taken again.
func TestMaxClients(t *testing.T) {
	r := startServer(t)
	s, addr := startProxy(t, r.Addr(), func(c *Config) { c.MaxClients = 3 })
	var sessions []*rawSession
	for range 3 {
		raw := dialRaw(t, addr)
		if got := raw.do(t, "AUTH "+testPassword, "PING"); fmt.Sprint(got) != "[+OK +PONG]" {
			t.Fatalf("client within the limit: %v", got)
		}
		sessions = append(sessions, raw)
	}
	got, closed := exchange(t, addr, "")
	if got != "-ERR max number of clients reached\r\n" || !closed {
		t.Fatalf("client over the limit: got %q (closed %v)", got, closed)
	}
	for i, raw := range sessions {
		if got := raw.do(t, "PING"); got[0] != "+PONG" {
			t.Fatalf("client %d after the refusal: %v", i, got)
		}
	}
	if n := s.m.rejected.Load(); n != 1 {
		t.Errorf("rejected = %d, want 1", n)
	}
	sessions[0].nc.Close()
	redistest.WaitFor(t, 10*time.Second, "the closed connection to be forgotten", func(context.Context) error {
		if n := s.m.active.Load(); n != 2 {
			return fmt.Errorf("%d active connections", n)
		}
		return nil
	})
	raw := dialRaw(t, addr)
	if got := raw.do(t, "AUTH "+testPassword, "PING"); fmt.Sprint(got) != "[+OK +PONG]" {
		t.Fatalf("client in the freed place: %v", got)
	}
}

// TestAuthTimeout: a connection that has not authenticated within the
// timeout is closed, whether idle or in the middle of a command; an
// authenticated one stays, and RESET starts the count again.
func TestAuthTimeout(t *testing.T) {
	r := startServer(t)
	const timeout = 300 * time.Millisecond
	s, addr := startProxy(t, r.Addr(), func(c *Config) { c.AuthTimeout = timeout })
	start := time.Now()
	idle := dialRaw(t, addr)
	partial := dialRaw(t, addr)
	if _, err := io.WriteString(partial.nc, "*2\r\n$4\r\nAUTH\r\n"); err != nil {
		t.Fatal(err)
	}
	refused := dialRaw(t, addr)
	if got := refused.do(t, "PING"); got[0] != "-NOAUTH Authentication required." {
		t.Fatalf("PING before AUTH: %v", got)
	}
	authed := dialRaw(t, addr)
	if got := authed.do(t, "AUTH "+testPassword); got[0] != "+OK" {
		t.Fatalf("AUTH: %v", got)
	}
	for name, raw := range map[string]*rawSession{"idle": idle, "partial command": partial, "refused command": refused} {
		got, closed := readUntilClosed(raw.nc, 10*time.Second)
		if !closed || got != "" {
			t.Errorf("%s: got %q, closed %v", name, got, closed)
		}
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("closed after %v, before the timeout of %v", elapsed, timeout)
	}
	// The authenticated connection is older than the timeout by now.
	if got := authed.do(t, "PING"); got[0] != "+PONG" {
		t.Fatalf("authenticated client after the timeout: %v", got)
	}
	if got := authed.do(t, "RESET"); got[0] != "+RESET" {
		t.Fatalf("RESET: %v", got)
	}
	reset := time.Now()
	if got, closed := readUntilClosed(authed.nc, 10*time.Second); !closed || got != "" {
		t.Errorf("after RESET: got %q, closed %v", got, closed)
	}
	if elapsed := time.Since(reset); elapsed < timeout-50*time.Millisecond {
		t.Errorf("closed %v after RESET, before the timeout of %v", elapsed, timeout)
	}
	if n := s.m.limitClosed.Load(); n != 4 {
		t.Errorf("limit_closed = %d, want 4", n)
	}
	mustWork(t, client(t, addr, nil))
}
