package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/haredis/haredis/internal/supervise"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/controlplane"
)

// Result holds the figures of one run.
type Result struct {
	ColdStart, WarmStart time.Duration
	PodStart             []time.Duration
	// BareRedis is how long a redis-server started directly on the host
	// takes to answer PING: the reference for pod start.
	BareRedis time.Duration
}

// Run starts a bed twice (cold, then warm), starts pods on the warm one and
// prints the figures to out, ending with the `bench: bed ...` line.
func Run(ctx context.Context, out io.Writer, pods int, log logr.Logger) (*Result, error) {
	var res Result
	var err error
	if res.BareRedis, err = bareRedis(ctx); err != nil {
		return nil, err
	}
	began := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Log: log})
	if err != nil {
		return nil, err
	}
	res.ColdStart = time.Since(began)
	if err := c.Stop(); err != nil {
		return nil, err
	}
	began = time.Now()
	c, err = cluster.Start(ctx, cluster.Options{Log: log})
	if err != nil {
		return nil, err
	}
	res.WarmStart = time.Since(began)
	defer c.Stop()
	if res.PodStart, err = podStarts(ctx, c, pods); err != nil {
		return nil, err
	}
	report(out, &res)
	return &res, nil
}

func report(out io.Writer, r *Result) {
	sorted := append([]time.Duration(nil), r.PodStart...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	p50, p95 := percentile(sorted, 50), percentile(sorted, 95)
	fmt.Fprintf(out, "bed start: cold %.2fs, warm %.2fs (warm/cold %.2f)\n", r.ColdStart.Seconds(), r.WarmStart.Seconds(), r.WarmStart.Seconds()/r.ColdStart.Seconds())
	fmt.Fprintf(out, "pod start (create to Ready, %d pods in a burst): p50 %.3fs, p95 %.3fs, max %.3fs\n", len(sorted), p50.Seconds(), p95.Seconds(), sorted[len(sorted)-1].Seconds())
	fmt.Fprintf(out, "reference: bare redis-server on the host answers PING after %.3fs; pod p50 is %.1fx that\n", r.BareRedis.Seconds(), p50.Seconds()/r.BareRedis.Seconds())
	fmt.Fprintf(out, "bench: bed cold_s=%.2f warm_s=%.2f pod_start_p50_s=%.3f pod_start_p95_s=%.3f\n", r.ColdStart.Seconds(), r.WarmStart.Seconds(), p50.Seconds(), p95.Seconds())
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(min(i, len(sorted))-1, 0)]
}

// bareRedis times a redis-server on a free loopback port from start to PONG.
func bareRedis(ctx context.Context) (time.Duration, error) {
	port, err := controlplane.FreePort()
	if err != nil {
		return 0, err
	}
	began := time.Now()
	cmd := exec.CommandContext(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := supervise.StartTied(cmd); err != nil {
		return 0, fmt.Errorf("cannot start redis-server: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for time.Since(began) < 10*time.Second {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			_ = conn.SetDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			n, _ := io.ReadFull(conn, buf)
			conn.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return time.Since(began), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("redis-server did not answer within 10s")
}

// podStarts creates n redis pods at once and times each from its create
// call to its Ready condition, seen through a watch.
func podStarts(ctx context.Context, c *cluster.Cluster, n int) ([]time.Duration, error) {
	ns := "bench"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if err := cluster.WaitFor(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return nil, fmt.Errorf("no default service account: %w", err)
	}
	w, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	ready := map[string]time.Duration{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			for _, cond := range pod.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					mu.Lock()
					if _, seen := ready[pod.Name]; !seen {
						if t, ok := created[pod.Name]; ok {
							ready[pod.Name] = time.Since(t)
						}
					}
					finished := len(ready) == n
					mu.Unlock()
					if finished {
						return
					}
				}
			}
		}
	}()
	for i := range n {
		name := fmt.Sprintf("redis-%d", i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "redis", Image: "redis:7.0",
				Command: []string{"redis-server", "--protected-mode", "no", "--save", ""},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intOrString(6379)}},
					PeriodSeconds: 1,
				},
			}}},
		}
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("cannot create pod %s: %w", name, err)
		}
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		return nil, fmt.Errorf("only %d of %d pods became ready within 3 minutes", len(ready), n)
	}
	out := make([]time.Duration, 0, n)
	for _, d := range ready {
		out = append(out, d)
	}
	return out, nil
}
