package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestPipelining(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	for _, proto := range []int{2, 3} {
		c := client(t, addr, func(o *redis.Options) { o.Protocol = proto })
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 2000 {
				p.Set(ctx, fmt.Sprintf("k%d", i), i, 0)
				p.Get(ctx, fmt.Sprintf("k%d", i))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2000 {
			if got := cmds[2*i+1].(*redis.StringCmd).Val(); got != fmt.Sprint(i) {
				t.Fatalf("RESP%d: GET k%d = %q", proto, i, got)
			}
		}
	}
}

func TestTransactions(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, nil)
	other := client(t, addr, nil)
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "tx", "1", 0)
		p.Incr(ctx, "tx")
		return nil
	})
	if err != nil || cmds[1].(*redis.IntCmd).Val() != 2 {
		t.Fatalf("MULTI/EXEC: %v %v", cmds, err)
	}
	// WATCH: a write by another client between WATCH and EXEC aborts EXEC.
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		if err := other.Set(ctx, "tx", "changed", 0).Err(); err != nil {
			return err
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "tx", "mine", 0)
			return nil
		})
		return err
	}, "tx")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("WATCH conflict: got %v, want TxFailedErr", err)
	}
	if v := other.Get(ctx, "tx").Val(); v != "changed" {
		t.Fatalf("tx = %q after aborted EXEC", v)
	}
}

func TestPubSub(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	for _, proto := range []int{2, 3} {
		sub := client(t, addr, func(o *redis.Options) { o.Protocol = proto })
		ps := sub.Subscribe(ctx, "news")
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		pub := client(t, addr, nil)
		if n, err := pub.Publish(ctx, "news", "hello").Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH: %d receivers, %v", n, err)
		}
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil || msg.Payload != "hello" {
			t.Fatalf("RESP%d: message %v, %v", proto, msg, err)
		}
		ps.Close()
	}
}

func TestBlockingCommands(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, nil)
	other := client(t, addr, nil)
	type result struct {
		v   []string
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, err := c.BLPop(ctx, 10*time.Second, "queue").Result()
		got <- result{v, err}
	}()
	waitBlocked(t, other, 1)
	if err := other.RPush(ctx, "queue", "job").Err(); err != nil {
		t.Fatal(err)
	}
	if res := <-got; res.err != nil || !cmp.Equal(res.v, []string{"queue", "job"}) {
		t.Fatalf("BLPOP = %v, %v", res.v, res.err)
	}
	streams := make(chan []redis.XStream, 1)
	go func() {
		s, _ := c.XRead(ctx, &redis.XReadArgs{Streams: []string{"events", "$"}, Block: 10 * time.Second}).Result()
		streams <- s
	}()
	waitBlocked(t, other, 1)
	if err := other.XAdd(ctx, &redis.XAddArgs{Stream: "events", Values: []string{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	s := <-streams
	if len(s) != 1 || len(s[0].Messages) != 1 || s[0].Messages[0].Values["k"] != "v" {
		t.Fatalf("XREAD BLOCK = %+v", s)
	}
}

func waitBlocked(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	ctx := ctxT(t)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info := c.Info(ctx, "clients").Val()
		if strings.Contains(info, fmt.Sprintf("blocked_clients:%d", n)) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no client blocked")
}

func TestSelectAndClientName(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.DB = 3; o.ClientName = "app-1" })
	if err := c.Set(ctx, "where", "db3", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if name := c.ClientGetName(ctx).Val(); name != "app-1" {
		t.Fatalf("CLIENT GETNAME = %q", name)
	}
	direct := r.Client()
	defer direct.Close()
	if v, _ := direct.Get(ctx, "where").Result(); v != "" {
		t.Fatalf("db 0 has %q", v)
	}
	direct.Do(ctx, "SELECT", 3)
	d3 := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: testPassword, DB: 3})
	defer d3.Close()
	if v := d3.Get(ctx, "where").Val(); v != "db3" {
		t.Fatalf("db 3 has %q", v)
	}
}

func TestAuthentication(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	for name, tc := range map[string]struct {
		opts    func(*redis.Options)
		wantErr string
	}{
		"HELLO 3 AUTH":         {func(o *redis.Options) {}, ""},
		"AUTH on RESP2":        {func(o *redis.Options) { o.Protocol = 2 }, ""},
		"AUTH default user":    {func(o *redis.Options) { o.Protocol = 2; o.Username = "default" }, ""},
		"wrong password":       {func(o *redis.Options) { o.Password = "nope" }, "WRONGPASS"},
		"wrong password RESP2": {func(o *redis.Options) { o.Password = "nope"; o.Protocol = 2 }, "WRONGPASS"},
		"other user":           {func(o *redis.Options) { o.Username = "bob" }, "WRONGPASS"},
		"no password":          {func(o *redis.Options) { o.Password = ""; o.Protocol = 2 }, "NOAUTH"},
	} {
		t.Run(name, func(t *testing.T) {
			c := client(t, addr, tc.opts)
			err := c.Set(ctx, "k", "v", 0).Err()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.wantErr == "" && err != nil || !strings.Contains(got, tc.wantErr) {
				t.Fatalf("SET: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	// A raw session: commands before AUTH are refused, QUIT closes.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "PING\r\nAUTH %s\r\nPING\r\nQUIT\r\n", testPassword)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var all bytes.Buffer
	_, err = all.ReadFrom(nc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n+OK\r\n"; all.String() != want {
		t.Fatalf("raw session got %q, want %q", all.String(), want)
	}
}

func TestLargeValues(t *testing.T) {
	r := startServer(t)
	_, addr := startProxy(t, r.Addr(), nil)
	ctx := ctxT(t)
	c := client(t, addr, func(o *redis.Options) { o.ReadTimeout = 30 * time.Second; o.WriteTimeout = 30 * time.Second })
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16)
	big[12345] = 'X'
	if err := c.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "big")
		p.Ping(ctx)
		p.Get(ctx, "big")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if got := cmds[i].(*redis.StringCmd).Val(); got != string(big) {
			t.Fatalf("GET big returned %d bytes, equal=%v", len(got), got == string(big))
		}
	}
}

func TestManyConnections(t *testing.T) {
	r := startServer(t)
	s, addr := startProxy(t, r.Addr(), nil)
	const n = 2000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("conn%d", i)
			fmt.Fprintf(nc, "AUTH %s\r\nSET %s %d\r\nGET %s\r\n", testPassword, key, i, key)
			want := fmt.Sprintf("+OK\r\n+OK\r\n$%d\r\n%d\r\n", len(fmt.Sprint(i)), i)
			nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(nc, got); err != nil || string(got) != want {
				errs <- fmt.Errorf("conn %d: got %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a := s.m.active.Load(); a != n {
		t.Fatalf("%d active connections, want %d", a, n)
	}
}
