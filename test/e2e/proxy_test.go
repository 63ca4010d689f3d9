package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/redistest"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/writeload"
)

// failoverWindow bounds how long a client on REDIS_URL may see errors after
// a SIGKILL of the primary: Sentinel's down-after (1 s), its election and
// promotion, and the proxy confirming the new primary.
const failoverWindow = 10 * time.Second

// TestProxyREDISURL walks what REDIS_URL does through the operator's proxy:
// Pub/Sub, MULTI/EXEC, a blocking pop and SELECT through REDIS_URL; a plain
// go-redis client and redis-benchmark through a planned switchover without
// a failed command; the same through an unplanned failover (SIGKILL of the
// primary's redis-server) with errors only in a bounded window.
func TestProxyREDISURL(t *testing.T) { forEachEngine(t, testProxyREDISURL) }

func testProxyREDISURL(t *testing.T, image string) {
	ns, rf, pw := newReadyRF(t, "proxy", withImage(image))
	ctx := context.Background()
	url := strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://")
	newClient := func(db int) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: url, Password: pw, DB: db, Dialer: dial,
			DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	}
	c := newClient(0)
	defer c.Close()
	redistest.WaitFor(t, 2*time.Minute, "a write through REDIS_URL (the proxy)", func(ctx context.Context) error {
		return c.Set(ctx, "through-proxy", "1", 0).Err()
	})
	svc := &corev1.Service{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app"}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["app.kubernetes.io/component"] != "proxy" {
		t.Fatalf("Service app selects %v, want the proxy", svc.Spec.Selector)
	}

	t.Run("protocol", func(t *testing.T) { proxyProtocol(t, newClient) })

	bench := func(t *testing.T, loop bool) *benchRun {
		return startBenchmark(t, svc.Spec.ClusterIP, pw, loop)
	}

	t.Run("switchover", func(t *testing.T) {
		load := writeload.Start(ctx, c, writeload.Options{Prefix: "proxy-so", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		b := bench(t, true)
		b.waitLoops(t, 1)
		rf, _ := getRF(ctx, ns, "app")
		to := anyReplica(rf)
		patchStatus(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Status.TargetPrimary = to })
		rf = waitFor2(t, ns, "app", 2*time.Minute, "the switchover to "+to, func(rf *haredisv1.RedisFailover) error {
			if ls := rf.Status.LastSwitchover; ls == nil || ls.To != to || ls.Result != haredisv1.SwitchoverSucceeded {
				return fmt.Errorf("lastSwitchover %+v", rf.Status.LastSwitchover)
			}
			return nil
		})
		loops := b.loops()
		b.waitLoops(t, loops+1)
		out := b.stop(t)
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		rep := load.Stop()
		t.Logf("plain client: %s; writes held %d ms on the primary", rep.Summary(), rf.Status.LastSwitchover.WritesHeldMilliseconds)
		if len(rep.Failures) > 0 {
			t.Errorf("%d commands failed through the proxy during a planned switchover, first %q", len(rep.Failures), rep.Failures[0].Err)
		}
		if strings.Contains(out, "Error") || strings.Contains(out, "ERR") {
			t.Errorf("redis-benchmark saw errors during the switchover:\n%s", out)
		}
		checkLost(t, rep, c)
		// The operator paused and resumed every proxy (with the password as
		// its bearer token).
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "proxy"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if m := proxyMetric(t, p.Status.PodIP, "haredis_proxy_pauses_total"); m < 1 {
				t.Errorf("proxy %s was never paused (haredis_proxy_pauses_total %v)", p.Name, m)
			}
		}
	})

	t.Run("failover", func(t *testing.T) {
		load := writeload.Start(ctx, c, writeload.Options{Prefix: "proxy-fo", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		b := bench(t, true)
		b.waitLoops(t, 1)
		rf, _ := getRF(ctx, ns, "app")
		old := rf.Status.CurrentPrimary
		pod, err := getPod(ctx, ns, old)
		if err != nil {
			t.Fatal(err)
		}
		st, err := instanceStatus(ctx, pod)
		if err != nil || st.RedisPID == 0 {
			t.Fatalf("cannot read the primary's redis-server pid: %v", err)
		}
		killed := time.Now()
		if err := syscall.Kill(st.RedisPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor2(t, ns, "app", 90*time.Second, "a new primary", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.CurrentPrimary == old {
				return fmt.Errorf("primary still %s", old)
			}
			return nil
		})
		// Every command succeeds once the window is over.
		if err := load.WaitAcked(ctx, 500); err != nil {
			t.Fatal(err)
		}
		settled := time.Now()
		if err := load.WaitAcked(ctx, 500); err != nil {
			t.Fatal(err)
		}
		out, _ := b.stopAnyway()
		rep := load.Stop()
		t.Logf("plain client: %s; redis-benchmark during the failover:\n%s", rep.Summary(), lastLines(out, 3))
		if late := load.FailuresSince(settled); len(late) > 0 {
			t.Errorf("%d commands failed after writes had resumed, first %q", len(late), late[0].Err)
		}
		if len(rep.Failures) > 0 {
			if end := rep.Failures[len(rep.Failures)-1].At; end.Sub(killed) > failoverWindow {
				t.Errorf("commands failed until %s after the SIGKILL, beyond the %s window: last %q", end.Sub(killed), failoverWindow, rep.Failures[len(rep.Failures)-1].Err)
			}
		}
		lost, err := rep.Lost(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("acknowledged writes lost to the unplanned failover (asynchronous replication): %d", len(lost))
		// redis-benchmark, which stops at its first closed connection, runs
		// cleanly against the new primary.
		after := bench(t, false)
		if out, err := after.wait(); err != nil || strings.Contains(out, "Error") {
			t.Errorf("redis-benchmark after the failover: %v\n%s", err, out)
		}
	})
}

// proxyProtocol checks what clients really do through REDIS_URL.
func proxyProtocol(t *testing.T, newClient func(db int) *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient(0)
	defer c.Close()

	sub := newClient(0)
	defer sub.Close()
	ps := sub.Subscribe(ctx, "news")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	if err := c.Publish(ctx, "news", "hello").Err(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil || msg.Payload != "hello" {
		t.Fatalf("Pub/Sub through the proxy: %v %v", msg, err)
	}

	res, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "tx", "1", 0)
		p.Incr(ctx, "tx")
		return nil
	})
	if err != nil || len(res) != 2 || res[1].(*redis.IntCmd).Val() != 2 {
		t.Fatalf("MULTI/EXEC through the proxy: %v %v", res, err)
	}

	blocked := newClient(0)
	defer blocked.Close()
	var wg sync.WaitGroup
	var popped []string
	var popErr error
	wg.Go(func() { popped, popErr = blocked.BLPop(ctx, 10*time.Second, "queue").Result() })
	time.Sleep(200 * time.Millisecond) // let BLPOP block first; the push below releases it either way
	if err := c.RPush(ctx, "queue", "job").Err(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if popErr != nil || len(popped) != 2 || popped[1] != "job" {
		t.Fatalf("BLPOP through the proxy: %v %v", popped, popErr)
	}

	db1 := newClient(1)
	defer db1.Close()
	if err := db1.Set(ctx, "in-db1", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, "in-db1").Result(); err != nil || n != 0 {
		t.Fatalf("SELECT: db 0 sees a key of db 1 (%d, %v)", n, err)
	}
	other := newClient(1)
	defer other.Close()
	if v, err := other.Get(ctx, "in-db1").Result(); err != nil || v != "1" {
		t.Fatalf("SELECT 1 through another connection: %q %v", v, err)
	}
}

func checkLost(t *testing.T, rep writeload.Report, c *redis.Client) {
	t.Helper()
	lost, err := rep.Lost(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost, first %s", len(lost), lost[0])
	}
}

// benchRun is redis-benchmark running in the bed's network against the
// Service's ClusterIP.
type benchRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	exited chan struct{}
	err    error
}

func (b *benchRun) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *benchRun) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// startBenchmark runs SET with 20 clients, in a loop when loop is set.
func startBenchmark(t *testing.T, ip, pw string, loop bool) *benchRun {
	t.Helper()
	args := []string{"netns", "exec", env.Bed.RouterNetns(), "redis-benchmark", "-h", ip, "-p", "6379", "--user", "default", "-a", pw,
		"-t", "set", "-c", "20", "-n", "20000", "-q", "-e"}
	if loop {
		args = append(args, "-l")
	}
	b := &benchRun{exited: make(chan struct{})}
	b.cmd = exec.Command("ip", args...)
	b.cmd.Stdout, b.cmd.Stderr = b, b
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("cannot start redis-benchmark: %v", err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() { _, _ = b.stopAnyway() })
	return b
}

// loops counts the finished rounds (one summary line each with -q).
func (b *benchRun) loops() int { return strings.Count(b.output(), "requests per second") }

func (b *benchRun) waitLoops(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for b.loops() < n {
		select {
		case <-b.exited:
			t.Fatalf("redis-benchmark ended (%v) before %d rounds:\n%s", b.err, n, b.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-benchmark did not finish %d rounds:\n%s", n, b.output())
		}
	}
}

// stop interrupts a looping benchmark that must still be running.
func (b *benchRun) stop(t *testing.T) string {
	t.Helper()
	select {
	case <-b.exited:
		t.Fatalf("redis-benchmark ended by itself (%v):\n%s", b.err, b.output())
	default:
	}
	out, _ := b.stopAnyway()
	return out
}

func (b *benchRun) stopAnyway() (string, error) {
	select {
	case <-b.exited:
		return b.output(), b.err
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.exited:
		return b.output(), nil
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return b.output(), fmt.Errorf("redis-benchmark did not stop")
	}
}

func (b *benchRun) wait() (string, error) {
	select {
	case <-b.exited:
		return b.output(), b.err
	case <-time.After(2 * time.Minute):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return b.output(), fmt.Errorf("redis-benchmark did not finish")
	}
}

// proxyMetric reads one unlabelled metric of a proxy pod's admin endpoint.
func proxyMetric(t *testing.T, podIP, name string) float64 {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: dial}}
	resp, err := hc.Get("http://" + net.JoinHostPort(podIP, "9090") + "/metrics")
	if err != nil {
		t.Fatalf("cannot read the proxy's metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("the proxy reports no %s", name)
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
