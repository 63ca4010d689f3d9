// Command switchover-bench measures planned switchovers under a steady
// write load: how long writes pause, how many commands fail and how many
// acknowledged writes are lost. It runs, in one go and for each engine
// (Valkey and Redis, -engines), the reference (the engine's plain server
// and Sentinel on loopback, `SENTINEL FAILOVER`, a Sentinel-aware client)
// and a RedisFailover running the engine's image on the test bed
// (status.targetPrimary, with one client on REDIS_URL through the proxy and
// one Sentinel-aware client), then a rolling update of the RedisFailover.
// The bed is started once; each engine's RedisFailover is deleted before
// the next one is created. The Sentinel-aware client of
// the RedisFailover does not retry, so that every error reply a switchover
// causes (NOREPLICAS, READONLY: there should be none) is counted. Run it with
// `make bench-switchover` (root: the bed needs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/hack/bench/internal/benchengine"
	"github.com/haredis/haredis/hack/bench/internal/benchrf"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/writeload"
	"github.com/haredis/haredis/test/operatorbed"
)

const password = "bench-switchover-password"

// trial is one switchover as one client saw it.
type trial struct {
	pause  time.Duration
	failed int
	// replies counts the failed commands that were error replies of Redis
	// rather than connection errors.
	replies int
}

func trialSince(l *writeload.Load, start time.Time) trial {
	fs := l.FailuresSince(start)
	return trial{pause: l.LongestGapSince(start), failed: len(fs), replies: countReplies(fs)}
}

func countReplies(fs []writeload.Failure) int {
	n := 0
	for _, f := range fs {
		if f.Reply {
			n++
		}
	}
	return n
}

func main() {
	trials := flag.Int("trials", 10, "switchovers per system and engine")
	engines := flag.String("engines", benchengine.Default, "engines to measure, comma-separated: valkey, redis")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*trials, *engines); err != nil {
		fmt.Fprintln(os.Stderr, "bench-switchover:", err)
		os.Exit(1)
	}
}

// measured is one engine's results: the plain reference's and haredis's.
type measured struct {
	engine    benchengine.Engine
	plain     []trial
	plainLost int
	h         *haredisResult
}

func run(n int, engineList string) error {
	engines, err := benchengine.Parse(engineList)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("the test bed needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(engines))*40*time.Minute)
	defer cancel()
	fmt.Println("Load: one client writing SET without pause (1 ms between writes); pause = longest time between two acknowledged writes in a trial;")
	fmt.Println("failed = commands that got an error; lost = acknowledged keys missing afterwards. Sentinel: down-after 1 s, quorum 2 of 3.")
	fmt.Println("The haredis Sentinel-aware client does not retry (MaxRetries -1); error replies = failed commands the server refused (NOREPLICAS, READONLY, ...).")

	ms := make([]*measured, len(engines))
	for i, e := range engines {
		ms[i] = &measured{engine: e}
		if ms[i].plain, ms[i].plainLost, err = reference(ctx, e, n); err != nil {
			return err
		}
	}
	env, err := operatorbed.Start(ctx, logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer env.Stop()
	for _, m := range ms {
		if m.h, err = runHaredis(ctx, env, m.engine, n); err != nil {
			fmt.Println(env.OperatorLog(ctx, 100))
			return err
		}
		if err := benchrf.Delete(ctx, env.Client, namespace(m.engine)); err != nil {
			fmt.Printf("warning: %v\n", err)
		}
	}

	var lines []string
	for _, m := range ms {
		lines = append(lines, report(m, n))
	}
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

// report prints one engine's table and ratios and returns its bench line.
func report(m *measured, n int) string {
	h := m.h
	fmt.Printf("\nengine %s: haredis %s (%s), plain %s\n", m.engine.Name, m.engine.Image, h.servers, m.engine.Server)
	fmt.Printf("%-44s %12s %12s %8s %6s\n", "system (client)", "pause_p50_ms", "pause_max_ms", "failed", "lost")
	row := func(name string, ts []trial, lost int) (p50, mx float64, failed int) {
		p50, mx, failed = summary(ts)
		fmt.Printf("%-44s %12.0f %12.0f %8d %6d\n", name, p50, mx, failed, lost)
		return p50, mx, failed
	}
	r50, _, _ := row("plain "+m.engine.Title()+" + SENTINEL FAILOVER (Sentinel)", m.plain, m.plainLost)
	p50, pmax, pfailed := row("haredis (REDIS_URL through the proxy)", h.proxy, h.proxyLost)
	s50, _, sfailed := row("haredis (Sentinel-aware client)", h.sentinel, h.sentinelLost)
	fmt.Printf("writes held on the old primary (status.lastSwitchover): p50 %d ms, max %d ms\n", median(h.held), maxOf(h.held))
	fmt.Printf("ratio to the reference's pause (%s): proxy %.2f, Sentinel-aware %.2f\n", m.engine.Name, p50/r50, s50/r50)
	fmt.Printf("rolling update of 3 instances, 3 sentinels: %.1f s; longest pause: proxy %d ms, Sentinel-aware %d ms; failed: proxy %d, Sentinel-aware %d\n",
		h.rolling.Seconds(), h.rollingPauseProxy.Milliseconds(), h.rollingPauseSentinel.Milliseconds(), h.rollingFailedProxy, h.rollingFailedSentinel)
	sreplies := h.rollingRepliesSentinel
	for _, t := range h.sentinel {
		sreplies += t.replies
	}
	fmt.Printf("error replies to the Sentinel-aware client (switchovers and rolling update): %d (goal 0; its other failures are connections to the old primary closing or timing out)\n", sreplies)
	fmt.Println("the bench line gives the REDIS_URL client's pause; failed_cmds and lost_acked_total count both haredis clients")
	return fmt.Sprintf("bench: switchover engine=%s trials=%d pause_p50_ms=%.0f pause_max_ms=%.0f failed_cmds=%d lost_acked_total=%d rolling_update_s=%.1f rolling_max_pause_ms=%d sentinel_error_replies=%d",
		m.engine.Name, n, p50, pmax, pfailed+sfailed+h.rollingFailedProxy+h.rollingFailedSentinel, h.proxyLost+h.sentinelLost, h.rolling.Seconds(), h.rollingPauseProxy.Milliseconds(), sreplies)
}

// reference switches over e's plain server with Sentinel n times: SENTINEL
// FAILOVER, no fence, the client following Sentinel.
func reference(ctx context.Context, e benchengine.Engine, n int) ([]trial, int, error) {
	fmt.Printf("\nplain %s + Sentinel (%s, %s and %s on loopback), SENTINEL FAILOVER\n", e.Title(), e.Server, e.Binaries.Server, e.Binaries.Sentinel)
	set, err := redistest.StartSet(ctx, redistest.SetConfig{MasterName: "bench", Password: password, Replicas: 2, Sentinels: 3, DownAfter: time.Second,
		Extra: []string{"min-replicas-to-write 1"}, Binaries: e.Binaries})
	if err != nil {
		return nil, 0, fmt.Errorf("cannot start %s with %s: %w", e.Binaries.Server, e.Binaries.Sentinel, err)
	}
	defer set.Close()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "bench", SentinelAddrs: set.SentinelAddrs(),
		Password: password, SentinelPassword: password, DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second})
	defer c.Close()
	load := writeload.Start(ctx, c, writeload.Options{Prefix: "ref", Interval: time.Millisecond})
	var out []trial
	for i := 1; i <= n; i++ {
		if err := load.WaitAcked(ctx, 300); err != nil {
			return nil, 0, err
		}
		start := time.Now()
		old, err := set.MasterAddr(ctx)
		if err != nil {
			return nil, 0, err
		}
		sc := set.Sentinels[0].SentinelClient()
		err = sc.Failover(ctx, "bench").Err()
		sc.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("SENTINEL FAILOVER: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = redistest.Wait(wctx, 50*time.Millisecond, func() error {
			a, err := set.MasterAddr(wctx)
			if err != nil || a == old {
				return fmt.Errorf("still %s (%v)", a, err)
			}
			for _, s := range set.Servers {
				if role, err := s.Role(wctx); err != nil || (s.Addr() != a && role != "slave") {
					return fmt.Errorf("%s is %s (%v)", s.Addr(), role, err)
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			return nil, 0, fmt.Errorf("trial %d: %w", i, err)
		}
		if err := load.WaitAcked(ctx, 1000); err != nil {
			return nil, 0, err
		}
		tr := trialSince(load, start)
		fmt.Printf("  trial %2d: pause %5d ms, %d failed\n", i, tr.pause.Milliseconds(), tr.failed)
		out = append(out, tr)
	}
	rep := load.Stop()
	master, err := set.MasterAddr(ctx)
	if err != nil {
		return nil, 0, err
	}
	mc := set.Server(master).Client()
	defer mc.Close()
	lost, err := rep.Lost(ctx, mc)
	return out, len(lost), err
}

type haredisResult struct {
	// servers is what the instances report they run, "valkey 8.0.1".
	servers                                   string
	proxy, sentinel                           []trial
	held                                      []int64
	proxyLost, sentinelLost                   int
	rolling                                   time.Duration
	rollingPauseProxy, rollingPauseSentinel   time.Duration
	rollingFailedProxy, rollingFailedSentinel int
	rollingRepliesSentinel                    int
}

// namespace is where e's RedisFailover runs.
func namespace(e benchengine.Engine) string { return "bench-switchover-" + string(e.Name) }

func runHaredis(ctx context.Context, env *operatorbed.Env, e benchengine.Engine, n int) (*haredisResult, error) {
	ns := namespace(e)
	rf, err := benchrf.Create(ctx, env, ns, e, nil)
	if err != nil {
		return nil, err
	}
	res := &haredisResult{servers: benchrf.Servers(rf)}
	fmt.Printf("\nharedis RedisFailover (test bed, spec.redis.image %s, instances run %s), status.targetPrimary\n", e.Image, res.servers)
	pw, err := benchrf.Password(ctx, env.Client, ns)
	if err != nil {
		return nil, err
	}
	pc := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://"), Password: pw, Dialer: env.Dial,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	defer pc.Close()
	sc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		Password: pw, SentinelPassword: pw, Dialer: env.Dial, DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second,
		MaxRetries: -1})
	defer sc.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = redistest.Wait(wctx, 200*time.Millisecond, func() error { return pc.Set(wctx, "ready", "1", 0).Err() })
	cancel()
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL does not take writes: %w", err)
	}
	proxyLoad := writeload.Start(ctx, pc, writeload.Options{Prefix: "proxy", Interval: time.Millisecond})
	sentinelLoad := writeload.Start(ctx, sc, writeload.Options{Prefix: "sentinel", Interval: time.Millisecond})
	for i := 1; i <= n; i++ {
		for _, l := range []*writeload.Load{proxyLoad, sentinelLoad} {
			if err := l.WaitAcked(ctx, 300); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		to := ""
		for _, is := range rf.Status.Instances {
			if is.Name != rf.Status.CurrentPrimary {
				to = is.Name
				break
			}
		}
		if err := patchStatus(ctx, env, ns, func(rf *haredisv1.RedisFailover) { rf.Status.TargetPrimary = to }); err != nil {
			return nil, err
		}
		rf, err = settle(ctx, env, ns, func(rf *haredisv1.RedisFailover) error {
			ls := rf.Status.LastSwitchover
			if ls == nil || ls.To != to || ls.Result == haredisv1.SwitchoverInProgress || rf.Status.TargetPrimary != rf.Status.CurrentPrimary {
				return fmt.Errorf("lastSwitchover %+v", ls)
			}
			if ls.Result != haredisv1.SwitchoverSucceeded {
				return fmt.Errorf("%w: %s", errGiveUp, ls.Message)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", i, err)
		}
		for _, l := range []*writeload.Load{proxyLoad, sentinelLoad} {
			if err := l.WaitAcked(ctx, 1000); err != nil {
				return nil, err
			}
		}
		p, s := trialSince(proxyLoad, start), trialSince(sentinelLoad, start)
		held := rf.Status.LastSwitchover.WritesHeldMilliseconds
		fmt.Printf("  trial %2d: %s -> %s, writes held %4d ms; REDIS_URL pause %5d ms, %d failed; Sentinel-aware pause %5d ms, %d failed (%d error replies)\n",
			i, rf.Status.LastSwitchover.From, to, held, p.pause.Milliseconds(), p.failed, s.pause.Milliseconds(), s.failed, s.replies)
		res.proxy, res.sentinel, res.held = append(res.proxy, p), append(res.sentinel, s), append(res.held, held)
	}

	fmt.Println("\nrolling update: resources.requests.cpu 50m for spec.redis and spec.sentinel (every instance and sentinel pod is replaced)")
	start := time.Now()
	if err := patchSpec(ctx, env, ns, func(rf *haredisv1.RedisFailover) {
		rf.Spec.Redis.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}
		rf.Spec.Sentinel.Resources = rf.Spec.Redis.Resources
	}); err != nil {
		return nil, err
	}
	_, err = settle(ctx, env, ns, func(rf *haredisv1.RedisFailover) error {
		if rf.Status.ObservedGeneration != rf.Generation || rf.Status.UpdatedInstances != 3 || meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionProgressing) {
			return fmt.Errorf("updated %d", rf.Status.UpdatedInstances)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.rolling = time.Since(start)
	for _, l := range []*writeload.Load{proxyLoad, sentinelLoad} {
		if err := l.WaitAcked(ctx, 1000); err != nil {
			return nil, err
		}
	}
	res.rollingPauseProxy, res.rollingFailedProxy = proxyLoad.LongestGapSince(start), len(proxyLoad.FailuresSince(start))
	rs := trialSince(sentinelLoad, start)
	res.rollingPauseSentinel, res.rollingFailedSentinel, res.rollingRepliesSentinel = rs.pause, rs.failed, rs.replies
	fmt.Printf("  %.1f s; longest pause REDIS_URL %d ms, Sentinel-aware %d ms\n", res.rolling.Seconds(), res.rollingPauseProxy.Milliseconds(), res.rollingPauseSentinel.Milliseconds())

	for _, x := range []struct {
		l    *writeload.Load
		lost *int
	}{{proxyLoad, &res.proxyLost}, {sentinelLoad, &res.sentinelLost}} {
		rep := x.l.Stop()
		lost, err := rep.Lost(ctx, pc)
		if err != nil {
			return nil, err
		}
		*x.lost = len(lost)
	}
	return res, nil
}

var errGiveUp = errors.New("switchover failed")

// settle waits until the RedisFailover is Ready and cond holds.
func settle(ctx context.Context, env *operatorbed.Env, ns string, cond func(*haredisv1.RedisFailover) error) (*haredisv1.RedisFailover, error) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	var got *haredisv1.RedisFailover
	err := redistest.Wait(ctx, 100*time.Millisecond, func() error {
		rf := &haredisv1.RedisFailover{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: benchrf.Name}, rf); err != nil {
			return err
		}
		if err := cond(rf); err != nil {
			if errors.Is(err, errGiveUp) {
				return nil
			}
			return err
		}
		if !meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) || rf.Status.ReadyInstances != 3 {
			return fmt.Errorf("phase %s", rf.Status.Phase)
		}
		got = rf
		return nil
	})
	if err == nil && got == nil {
		rf := &haredisv1.RedisFailover{}
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: benchrf.Name}, rf)
		return nil, fmt.Errorf("%w: %+v", errGiveUp, rf.Status.LastSwitchover)
	}
	return got, err
}

func patchStatus(ctx context.Context, env *operatorbed.Env, ns string, mutate func(*haredisv1.RedisFailover)) error {
	return retryUpdate(ctx, env, ns, mutate, true)
}

func patchSpec(ctx context.Context, env *operatorbed.Env, ns string, mutate func(*haredisv1.RedisFailover)) error {
	return retryUpdate(ctx, env, ns, mutate, false)
}

func retryUpdate(ctx context.Context, env *operatorbed.Env, ns string, mutate func(*haredisv1.RedisFailover), status bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return redistest.Wait(ctx, 100*time.Millisecond, func() error {
		rf := &haredisv1.RedisFailover{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: benchrf.Name}, rf); err != nil {
			return err
		}
		mutate(rf)
		if status {
			return env.Client.Status().Update(ctx, rf)
		}
		return env.Client.Update(ctx, rf)
	})
}

func summary(ts []trial) (p50, mx float64, failed int) {
	var s []float64
	for _, t := range ts {
		s = append(s, float64(t.pause.Milliseconds()))
		failed += t.failed
	}
	sort.Float64s(s)
	return s[len(s)/2], s[len(s)-1], failed
}

func median(v []int64) int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxOf(v []int64) int64 {
	var m int64
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
