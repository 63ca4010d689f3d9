package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// ioPaths are the two ways a loop moves bytes: io_uring batches where the
// kernel allows it, plain read and write system calls otherwise. Both must
// behave the same.
var ioPaths = map[string]func(*Config){
	"io_uring": nil,
	"plain":    func(c *Config) { c.NoIOURing = true },
}

func TestIOPaths(t *testing.T) {
	r := startServer(t)
	for name, mod := range ioPaths {
		t.Run(name, func(t *testing.T) {
			s, addr := startProxy(t, r.Addr(), mod)
			if name == "io_uring" && !s.cfg.NoIOURing { // HAREDIS_PROXY_NO_IO_URING may force plain calls
				if ring, err := newURing(8); err != nil {
					t.Logf("io_uring unavailable here (%v): both runs use plain system calls", err)
				} else {
					ring.close()
					for _, l := range s.eachLoop() {
						if l.ring == nil {
							t.Fatal("a loop has no io_uring although the kernel offers it")
						}
					}
				}
			}
			t.Run("pipelining", func(t *testing.T) { checkPipelining(t, addr) })
			t.Run("large values", func(t *testing.T) { checkLargeValues(t, addr) })
			t.Run("slow client", func(t *testing.T) { checkSlowClient(t, addr) })
			t.Run("many pipelining connections", func(t *testing.T) { checkManyPipeliningConns(t, addr) })
			t.Run("slow upstream", func(t *testing.T) { checkSlowUpstream(t, r, addr) })
		})
	}
}

// checkSlowUpstream keeps Redis busy in a script (it reads no socket
// meanwhile) while a client pipelines 48 MiB of SETs: the proxy's writes to
// the upstream come up short, it stops reading the client, and it must send
// the rest in order once Redis reads again.
func checkSlowUpstream(t *testing.T, r *redistest.Server, addr string) {
	ctx := ctxT(t)
	busy := make(chan error, 1)
	go func() {
		direct := r.Client()
		defer direct.Close()
		busy <- direct.Eval(ctx, `local s=redis.call('TIME') while true do local n=redis.call('TIME') if (n[1]-s[1])*1000000+(n[2]-s[2]) > 700000 then return 1 end end`, nil).Err()
	}()
	time.Sleep(100 * time.Millisecond) // the script runs
	c := client(t, addr, func(o *redis.Options) { o.ReadTimeout = 30 * time.Second; o.WriteTimeout = 30 * time.Second })
	value := strings.Repeat("s", 1<<20)
	const n = 48
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, fmt.Sprintf("slowup%d", i), fmt.Sprintf("%d:%s", i, value), 0)
		}
		p.Get(ctx, fmt.Sprintf("slowup%d", n-1))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-busy; err != nil {
		t.Fatalf("script: %v", err)
	}
	if got := cmds[n].(*redis.StringCmd).Val(); got != fmt.Sprintf("%d:%s", n-1, value) {
		t.Fatalf("GET after the pipeline returned %d bytes", len(got))
	}
}

func checkPipelining(t *testing.T, addr string) {
	ctx := ctxT(t)
	for _, proto := range []int{2, 3} {
		c := client(t, addr, func(o *redis.Options) { o.Protocol = proto })
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 3000 {
				p.Set(ctx, fmt.Sprintf("p%d", i), i, 0)
				p.Get(ctx, fmt.Sprintf("p%d", i))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3000 {
			if got := cmds[2*i+1].(*redis.StringCmd).Val(); got != strconv.Itoa(i) {
				t.Fatalf("RESP%d: GET p%d = %q", proto, i, got)
			}
		}
	}
}

// checkLargeValues moves 8 MiB each way: neither the upstream nor the client
// socket takes that in one write, so the rest goes when epoll says the
// socket is writable again.
func checkLargeValues(t *testing.T, addr string) {
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.ReadTimeout = 30 * time.Second; o.WriteTimeout = 30 * time.Second })
	big := bytes.Repeat([]byte("abcdefghijklmnop"), 8<<20/16)
	big[777777] = '!'
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "big-io", big, 0)
		p.Get(ctx, "big-io")
		p.Ping(ctx)
		p.Get(ctx, "big-io")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 3} {
		if got := cmds[i].(*redis.StringCmd).Val(); got != string(big) {
			t.Fatalf("GET big-io returned %d bytes, equal=%v", len(got), got == string(big))
		}
	}
}

// checkSlowClient sends many commands with large replies and does not read
// for a while: the proxy's writes to it come up short, it stops reading the
// upstream, and it must still deliver every reply, in order, and go on
// serving other clients meanwhile.
func checkSlowClient(t *testing.T, addr string) {
	ctx := ctxT(t)
	value := strings.Repeat("v", 64<<10)
	setup := client(t, addr, nil)
	if err := setup.Set(ctx, "slow", value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = 400 // 25 MiB of replies
	var cmds strings.Builder
	fmt.Fprintf(&cmds, "AUTH %s\r\n", testPassword)
	for i := range n {
		fmt.Fprintf(&cmds, "GET slow\r\nECHO %d\r\n", i)
	}
	go func() { _, _ = io.WriteString(nc, cmds.String()) }()
	time.Sleep(500 * time.Millisecond) // the client does not read
	other := client(t, addr, nil)
	if err := other.Ping(ctx).Err(); err != nil {
		t.Fatalf("another client while one is stalled: %v", err)
	}
	nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReaderSize(nc, 1<<20)
	if l, err := br.ReadString('\n'); err != nil || l != "+OK\r\n" {
		t.Fatalf("AUTH: %q %v", l, err)
	}
	for i := range n {
		hdr, err := br.ReadString('\n')
		if err != nil || hdr != fmt.Sprintf("$%d\r\n", len(value)) {
			t.Fatalf("reply %d: header %q, %v", i, hdr, err)
		}
		body := make([]byte, len(value)+2)
		if _, err := io.ReadFull(br, body); err != nil || string(body[:len(value)]) != value {
			t.Fatalf("reply %d: body wrong, %v", i, err)
		}
		want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Fatalf("ECHO %d: got %q, %v", i, got, err)
		}
	}
}

// checkManyPipeliningConns runs many connections at once, each with
// pipelines, so that one loop round carries many connections' reads and
// writes together.
func checkManyPipeliningConns(t *testing.T, addr string) {
	const conns, rounds, depth = 100, 20, 16
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(60 * time.Second))
			br := bufio.NewReader(nc)
			fmt.Fprintf(nc, "AUTH %s\r\n", testPassword)
			if l, err := br.ReadString('\n'); err != nil || l != "+OK\r\n" {
				errs <- fmt.Errorf("conn %d AUTH: %q %v", i, l, err)
				return
			}
			for r := range rounds {
				var b strings.Builder
				for d := range depth {
					fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$6\r\nk%05d\r\n$5\r\n%05d\r\n*2\r\n$3\r\nGET\r\n$6\r\nk%05d\r\n", i, r*depth+d, i)
				}
				if _, err := io.WriteString(nc, b.String()); err != nil {
					errs <- err
					return
				}
				for d := range depth {
					want := fmt.Sprintf("+OK\r\n$5\r\n%05d\r\n", r*depth+d)
					got := make([]byte, len(want))
					if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
						errs <- fmt.Errorf("conn %d round %d: got %q, want %q (%v)", i, r, got, want, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestSmallBuffers forwards through 64-byte buffers, so that commands and
// replies span many reads and the buffers are compacted and grown.
func TestSmallBuffers(t *testing.T) {
	r := startServer(t)
	for name, mod := range ioPaths {
		t.Run(name, func(t *testing.T) {
			_, addr := startProxy(t, r.Addr(), func(c *Config) {
				c.BufferSize = 64
				if mod != nil {
					mod(c)
				}
			})
			checkPipelining(t, addr)
			checkManyPipeliningConns(t, addr)
		})
	}
}
