package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// sentinelProxy runs the proxy as `haredis proxy` does, following set's
// sentinels, and returns its client address and admin base URL.
func sentinelProxy(t *testing.T, set *redistest.Set) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, RunOptions{
			Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			Sentinels: set.SentinelAddrs(), MasterName: set.Cfg.MasterName, SentinelPassword: set.Cfg.Password,
			Proxy: Config{Password: set.Cfg.Password, Log: testr.New(t)},
			Ready: func(c, a net.Addr) { ready <- [2]net.Addr{c, a} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	var addrs [2]net.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("proxy did not start: %v", err)
	}
	admin := "http://" + addrs[1].String()
	redistest.WaitFor(t, 15*time.Second, "the proxy to be ready", func(ctx context.Context) error {
		if st := status(t, admin); !st.Ready {
			return fmt.Errorf("proxy not ready: %+v", st)
		}
		return nil
	})
	return addrs[0].String(), admin
}

func status(t *testing.T, admin string) Status {
	t.Helper()
	resp, err := http.Get(admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// post calls the admin endpoint as the operator does, with the password
// as the bearer token.
func post(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

// writer sets key w:N to N in a loop through a plain go-redis client and
// records when each write failed.
type writer struct {
	mu       sync.Mutex
	ok       int
	failures []time.Time
	lastErr  error
	lastOK   int // N of the last successful write
	okSince  int // successful writes since the last failure
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func startWriter(t *testing.T, addr string) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	c := client(t, addr, func(o *redis.Options) { o.MaxRetries = 0 })
	go func() {
		defer close(w.done)
		ctx := context.Background()
		deadline := time.Now().Add(2 * time.Minute) // bounded load
		for n := 0; time.Now().Before(deadline); n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			err := c.Set(ctx, fmt.Sprintf("w:%d", n), n, 0).Err()
			w.mu.Lock()
			if err != nil {
				w.failures = append(w.failures, time.Now())
				w.lastErr = err
				w.okSince = 0
			} else {
				w.ok++
				w.okSince++
				w.lastOK = n
			}
			w.mu.Unlock()
			time.Sleep(time.Millisecond) // a steady, bounded rate
		}
	}()
	return w
}

func (w *writer) snapshot() (ok, okSince, lastOK int, failures []time.Time, lastErr error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, w.okSince, w.lastOK, append([]time.Time(nil), w.failures...), w.lastErr
}

func (w *writer) halt() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func TestUnplannedFailoverThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: SIGKILL of the primary and a Sentinel failover")
	}
	set := redistest.NewSet(t, redistest.SetConfig{Password: testPassword, Replicas: 2, Sentinels: 3, DownAfter: time.Second})
	addr, admin := sentinelProxy(t, set)
	old := set.Servers[0].Addr()
	w := startWriter(t, addr)
	defer w.halt()
	redistest.WaitFor(t, 10*time.Second, "200 writes through the proxy", func(ctx context.Context) error {
		if ok, _, _, _, _ := w.snapshot(); ok < 200 {
			return fmt.Errorf("%d writes so far", ok)
		}
		return nil
	})
	if _, _, _, f, err := w.snapshot(); len(f) > 0 {
		t.Fatalf("writes failed before the failover: %v", err)
	}
	set.Servers[0].Kill()
	killed := time.Now()
	// Writes must recover: 2000 consecutive successes after the last error.
	redistest.WaitFor(t, 60*time.Second, "2000 writes since the last failure", func(ctx context.Context) error {
		if _, okSince, _, f, err := w.snapshot(); okSince < 2000 {
			return fmt.Errorf("%d writes since the last of %d failures (%v)", okSince, len(f), err)
		}
		return nil
	})
	w.halt()
	_, _, lastOK, failures, lastErr := w.snapshot()
	window := time.Duration(0)
	if len(failures) > 0 {
		window = failures[len(failures)-1].Sub(killed)
	}
	t.Logf("%d failed writes, the last %v after the kill (%v)", len(failures), window.Round(time.Millisecond), lastErr)
	if window > 15*time.Second {
		t.Errorf("errors went on for %v after the kill", window)
	}
	st := status(t, admin)
	if st.Primary == old || set.Server(st.Primary) == nil {
		t.Fatalf("proxy primary %q after failover from %q", st.Primary, old)
	}
	nc := set.Server(st.Primary).Client()
	defer nc.Close()
	if v := nc.Get(context.Background(), fmt.Sprintf("w:%d", lastOK)).Val(); v != fmt.Sprint(lastOK) {
		t.Fatalf("last acknowledged write is not on the new primary: %q", v)
	}
}

func TestPlannedSwitchoverThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: a Sentinel switchover")
	}
	set := redistest.NewSet(t, redistest.SetConfig{Password: testPassword, Replicas: 2, Sentinels: 3, DownAfter: time.Second})
	addr, admin := sentinelProxy(t, set)
	old := set.Servers[0].Addr()
	ctx := ctxT(t)
	w := startWriter(t, addr)
	defer w.halt()
	redistest.WaitFor(t, 10*time.Second, "200 writes through the proxy", func(ctx context.Context) error {
		if ok, _, _, _, _ := w.snapshot(); ok < 200 {
			return fmt.Errorf("%d writes so far", ok)
		}
		return nil
	})
	var pause struct{ Drained bool }
	if err := json.Unmarshal([]byte(post(t, admin+"/pause?wait=5s")), &pause); err != nil || !pause.Drained {
		t.Fatalf("pause: %+v %v", pause, err)
	}
	paused := time.Now()
	sc := set.Sentinels[0].SentinelClient()
	defer sc.Close()
	if err := sc.Failover(ctx, set.Cfg.MasterName).Err(); err != nil {
		t.Fatal(err)
	}
	var next string
	redistest.WaitFor(t, 30*time.Second, "the sentinels to name a new primary that acts as one", func(ctx context.Context) error {
		a, err := set.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if a == old {
			return fmt.Errorf("still %s", a)
		}
		if role, err := set.Server(a).Role(ctx); err != nil || role != "master" {
			return fmt.Errorf("%s not master yet: %q %v", a, role, err)
		}
		next = a
		return nil
	})
	post(t, admin+"/resume?primary="+next)
	t.Logf("paused for %v", time.Since(paused).Round(time.Millisecond))
	okAtResume, _, _, _, _ := w.snapshot()
	redistest.WaitFor(t, 20*time.Second, "500 writes since the resume", func(ctx context.Context) error {
		if ok, _, _, _, _ := w.snapshot(); ok < okAtResume+500 {
			return fmt.Errorf("%d writes since resume", ok-okAtResume)
		}
		return nil
	})
	w.halt()
	ok, _, lastOK, failures, lastErr := w.snapshot()
	if len(failures) != 0 {
		t.Fatalf("%d of %d writes failed across the switchover; last error: %v", len(failures), ok+len(failures), lastErr)
	}
	nc := set.Server(next).Client()
	defer nc.Close()
	if v := nc.Get(ctx, fmt.Sprintf("w:%d", lastOK)).Val(); v != fmt.Sprint(lastOK) {
		t.Fatalf("last write is not on the new primary: %q", v)
	}
}
