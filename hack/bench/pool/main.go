// Command pool-bench measures what a SentinelPool saves and costs: ten
// RedisFailovers on the test bed with dedicated sentinels (three each),
// then ten on one pool of three, in the same run. For each it reports the
// sentinel processes, their total RSS and the CPU they use at rest over
// a minute, and the failover time over ten trials (one SIGKILL of a
// primary's server per RedisFailover, under a write load through a
// Sentinel-aware client: the time until its writes succeed again). Run it
// with `make bench-pool` (root: the bed needs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/operatorbed"
)

func main() {
	rfs := flag.Int("rfs", 10, "RedisFailovers per setup (and failover trials)")
	rest := flag.Duration("rest", time.Minute, "how long the sentinels' CPU is measured at rest")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*rfs, *rest); err != nil {
		fmt.Fprintln(os.Stderr, "bench-pool:", err)
		os.Exit(1)
	}
}

// setup is one way of running the sentinels, measured.
type setup struct {
	name      string
	sentinels int
	rssMiB    float64
	cpuPct    float64
	outages   []time.Duration
}

func run(n int, rest time.Duration) error {
	if os.Geteuid() != 0 {
		return errors.New("the test bed needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	env, err := operatorbed.Start(ctx, logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer env.Stop()
	fmt.Printf("%d RedisFailovers of 2 instances each (valkey/valkey:8.0, no proxy), down-after 1s\n", n)
	fmt.Println("failover: SIGKILL of a primary's server under a go-redis FailoverClient writing without pause; time until its writes succeed again")

	dedicated, err := measure(ctx, env, "dedicated sentinels", "bench-pool-dedicated", n, rest, nil)
	if err != nil {
		fmt.Println(env.OperatorLog(ctx, 100))
		return err
	}
	pooled, err := measure(ctx, env, "one SentinelPool of 3", "bench-pool-pooled", n, rest, &haredisv1.SentinelPoolReference{Name: "shared"})
	if err != nil {
		fmt.Println(env.OperatorLog(ctx, 100))
		return err
	}
	fmt.Printf("\n%-24s %10s %10s %10s %14s %14s\n", "sentinels", "processes", "rss_mib", "cpu_pct", "failover_p50_s", "failover_max_s")
	for _, s := range []*setup{dedicated, pooled} {
		p50, mx := quantiles(s.outages)
		fmt.Printf("%-24s %10d %10.1f %10.2f %14.2f %14.2f\n", s.name, s.sentinels, s.rssMiB, s.cpuPct, p50, mx)
	}
	dp50, _ := quantiles(dedicated.outages)
	pp50, pmx := quantiles(pooled.outages)
	rssRatio := pooled.rssMiB / dedicated.rssMiB
	fmt.Printf("ratio pooled/dedicated: processes %.2f, rss %.2f, cpu %.2f, failover p50 %.2f\n",
		float64(pooled.sentinels)/float64(dedicated.sentinels), rssRatio, pooled.cpuPct/dedicated.cpuPct, pp50/dp50)
	fmt.Printf("\nbench: pool rfs=%d sentinels_dedicated=%d sentinels_pooled=%d rss_ratio=%.2f failover_p50_pooled_s=%.2f failover_p50_dedicated_s=%.2f failover_max_pooled_s=%.2f\n",
		n, dedicated.sentinels, pooled.sentinels, rssRatio, pp50, dp50, pmx)
	return nil
}

// measure creates n RedisFailovers in namespace ns (on the pool poolRef
// names, created first, or with dedicated sentinels), measures their
// sentinels at rest and one failover of each, and deletes the namespace.
func measure(ctx context.Context, env *operatorbed.Env, name, ns string, n int, rest time.Duration, poolRef *haredisv1.SentinelPoolReference) (*setup, error) {
	fmt.Printf("\n%s\n", name)
	if out, err := env.Kubectl(ctx, "create", "namespace", ns); err != nil {
		return nil, fmt.Errorf("cannot create namespace %s: %w\n%s", ns, err, out)
	}
	defer func() {
		if out, err := env.Kubectl(context.Background(), "delete", "namespace", ns, "--wait=true", "--timeout=5m"); err != nil {
			fmt.Printf("warning: cannot delete namespace %s: %v\n%s", ns, err, out)
		}
	}()
	if poolRef != nil {
		sp := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: poolRef.Name}}
		if err := env.Client.Create(ctx, sp); err != nil {
			return nil, fmt.Errorf("cannot create the SentinelPool: %w", err)
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app%d", i)}}
		rf.Spec.Redis.Replicas = 2
		rf.Spec.Proxy.Enabled = ptr.To(false)
		rf.Spec.Sentinel.PoolRef = poolRef
		if err := env.Client.Create(ctx, rf); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", rf.Name, err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := waitReady(ctx, env, ns, fmt.Sprintf("app%d", i)); err != nil {
			return nil, err
		}
	}
	fmt.Printf("  all %d Ready %.0f s after their creation\n", n, time.Since(start).Seconds())
	s := &setup{name: name}
	var err error
	if s.sentinels, s.rssMiB, s.cpuPct, err = sentinelUse(ctx, env, ns, rest); err != nil {
		return nil, err
	}
	fmt.Printf("  %d sentinel processes, %.1f MiB RSS in all, %.2f %% of a core at rest over %s\n", s.sentinels, s.rssMiB, s.cpuPct, rest)
	for i := 0; i < n; i++ {
		d, err := failover(ctx, env, ns, fmt.Sprintf("app%d", i))
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", i+1, err)
		}
		fmt.Printf("  trial %2d: app%d writes again %.2f s after the SIGKILL\n", i+1, i, d.Seconds())
		s.outages = append(s.outages, d)
	}
	return s, nil
}

// sentinelUse finds the sentinel processes of namespace ns (dedicated or a
// pool's: the main process of every sentinel pod) and sums their RSS and
// the CPU they use over rest.
func sentinelUse(ctx context.Context, env *operatorbed.Env, ns string, rest time.Duration) (procs int, rssMiB, cpuPct float64, err error) {
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return 0, 0, 0, err
	}
	var pids []int
	for _, p := range pods.Items {
		c := p.Labels[specs.LabelComponent]
		if c != specs.ComponentSentinel && c != specs.ComponentPoolSentinel {
			continue
		}
		h, err := env.Bed.Pod(ctx, ns, p.Name)
		if err != nil {
			return 0, 0, 0, err
		}
		pid, err := h.PID("sentinel")
		if err != nil {
			return 0, 0, 0, err
		}
		pids = append(pids, pid)
	}
	ticks := func() (int64, error) {
		var sum int64
		for _, pid := range pids {
			t, err := cpuTicks(pid)
			if err != nil {
				return 0, err
			}
			sum += t
		}
		return sum, nil
	}
	before, err := ticks()
	if err != nil {
		return 0, 0, 0, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, 0, 0, ctx.Err()
	case <-time.After(rest):
	}
	after, err := ticks()
	if err != nil {
		return 0, 0, 0, err
	}
	// Clock ticks are 1/100 s on Linux.
	cpuPct = float64(after-before) / 100 / time.Since(t0).Seconds() * 100
	for _, pid := range pids {
		kb, err := rssKB(pid)
		if err != nil {
			return 0, 0, 0, err
		}
		rssMiB += float64(kb) / 1024
	}
	return len(pids), rssMiB, cpuPct, nil
}

// cpuTicks is utime+stime of /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	end := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, nil
}

// rssKB is VmRSS of /proc/PID/status.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// waitReady waits until RedisFailover name is Ready.
func waitReady(ctx context.Context, env *operatorbed.Env, ns, name string) (*haredisv1.RedisFailover, error) {
	wctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	rf := &haredisv1.RedisFailover{}
	err := redistest.Wait(wctx, 500*time.Millisecond, func() error {
		if err := env.Client.Get(wctx, client.ObjectKey{Namespace: ns, Name: name}, rf); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) || rf.Status.ObservedGeneration != rf.Generation {
			return fmt.Errorf("%s: phase %s", name, rf.Status.Phase)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s/%s not Ready: %w", ns, name, err)
	}
	return rf, nil
}

// failover writes through a Sentinel-aware client to RedisFailover name,
// SIGKILLs its primary's server, and returns how long after the kill a
// write succeeds again; it then waits until the RedisFailover is Ready.
func failover(ctx context.Context, env *operatorbed.Env, ns, name string) (time.Duration, error) {
	rf, err := waitReady(ctx, env, ns, name)
	if err != nil {
		return 0, err
	}
	var sec corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf.AuthSecretName()}, &sec); err != nil {
		return 0, err
	}
	pw := string(sec.Data[specs.PasswordKey])
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		Password: pw, SentinelPassword: pw, Dialer: env.Dial, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		// One attempt per write: a retry inside the client would hide the
		// outage being measured.
		MaxRetries: -1})
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = redistest.Wait(wctx, 100*time.Millisecond, func() error { return c.Set(wctx, "warm", "1", 0).Err() })
	cancel()
	if err != nil {
		return 0, fmt.Errorf("no write through the Sentinel URL before the kill: %w", err)
	}
	var pid int
	for _, is := range rf.Status.Instances {
		if is.Name != rf.Status.CurrentPrimary {
			continue
		}
		ic, err := env.InstanceClient(ctx, ns, name, is.PodIP)
		if err != nil {
			return 0, err
		}
		s, err := ic.Status(ctx)
		if err != nil || s.RedisPID == 0 {
			return 0, fmt.Errorf("cannot read the primary's server pid: %v", err)
		}
		pid = s.RedisPID
	}
	if pid == 0 {
		return 0, fmt.Errorf("primary %s not in status", rf.Status.CurrentPrimary)
	}
	sawFailure := false
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, err
	}
	killed := time.Now()
	deadline := killed.Add(90 * time.Second)
	for seq := 0; time.Now().Before(deadline); seq++ {
		err := c.Set(ctx, "k"+strconv.Itoa(seq), seq, 0).Err()
		if err != nil {
			sawFailure = true
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if sawFailure {
			took := time.Since(killed)
			if _, err := waitReady(ctx, env, ns, name); err != nil {
				return 0, err
			}
			return took, nil
		}
		if time.Since(killed) > 20*time.Second {
			return 0, errors.New("writes never failed in the 20 s after the kill")
		}
	}
	return 0, errors.New("writes did not come back within 90 s")
}

// quantiles are the p50 and the maximum in seconds.
func quantiles(ds []time.Duration) (p50, mx float64) {
	s := make([]float64, len(ds))
	for i, d := range ds {
		s[i] = d.Seconds()
	}
	sort.Float64s(s)
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)/2], s[len(s)-1]
}
