// Command failover-bench measures unplanned failover: trials of SIGKILL of
// the primary's server under a steady write load through a Sentinel-aware
// client (go-redis FailoverClient). It reports the time until writes
// succeed again and the acknowledged writes lost, for each engine (Valkey
// and Redis, -engines): a RedisFailover on the test bed running the
// engine's image and, as the reference measured in the same run, the same
// engine's plain server and Sentinel on loopback with the same Sentinel
// settings. Run it with `make bench-failover` (root: the bed needs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/hack/bench/internal/benchengine"
	"github.com/haredis/haredis/hack/bench/internal/benchrf"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/test/operatorbed"
)

const (
	downAfter       = time.Second
	failoverTimeout = 5 * time.Second
	password        = "bench-failover-password"
)

// target is one system under test.
type target interface {
	client() *redis.Client
	// kill SIGKILLs the primary's server; c is the client under load.
	kill(ctx context.Context, c *redis.Client) error
	// settle waits until the system is whole again.
	settle(ctx context.Context) error
	// finish ends a trial.
	finish()
}

type trial struct {
	outage time.Duration
	lost   int
	acked  int
}

func main() {
	trials := flag.Int("trials", 10, "failovers per system and engine")
	engines := flag.String("engines", benchengine.Default, "engines to measure, comma-separated: valkey, redis")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*trials, *engines); err != nil {
		fmt.Fprintln(os.Stderr, "bench-failover:", err)
		os.Exit(1)
	}
}

// measured is one engine's results: the plain reference's and haredis's.
type measured struct {
	engine         benchengine.Engine
	servers        string
	plain, haredis []trial
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
	fmt.Printf("Sentinel settings: down-after-milliseconds %d, failover-timeout %d, quorum 2 of 3, parallel-syncs 1\n",
		downAfter.Milliseconds(), failoverTimeout.Milliseconds())
	fmt.Println("Load: one go-redis FailoverClient writing SET without pause; lost = acknowledged keys missing after the trial")

	ms := make([]*measured, len(engines))
	for i, e := range engines {
		ms[i] = &measured{engine: e}
		name := fmt.Sprintf("plain %s + Sentinel (%s, %s and %s on loopback, a fresh set per trial)", e.Title(), e.Server, e.Binaries.Server, e.Binaries.Sentinel)
		if ms[i].plain, err = runTrials(ctx, name, &reference{binaries: e.Binaries}, n); err != nil {
			return err
		}
	}

	env, err := operatorbed.Start(ctx, logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer env.Stop()
	for _, m := range ms {
		hr, err := startHaredis(ctx, env, m.engine)
		if err != nil {
			fmt.Println(env.OperatorLog(ctx, 100))
			return err
		}
		m.servers = hr.servers()
		name := fmt.Sprintf("haredis RedisFailover (test bed, spec.redis.image %s, instances run %s)", m.engine.Image, m.servers)
		if m.haredis, err = runTrials(ctx, name, hr, n); err != nil {
			fmt.Println(env.OperatorLog(ctx, 100))
			return err
		}
		if err := hr.delete(ctx); err != nil {
			fmt.Printf("warning: %v\n", err)
		}
	}

	var lines []string
	for _, m := range ms {
		p50, p95, mx, lost := summary(m.haredis)
		r50, r95, rmx, rlost := summary(m.plain)
		fmt.Printf("\nengine %s: haredis %s (%s), plain %s\n", m.engine.Name, m.engine.Image, m.servers, m.engine.Server)
		fmt.Printf("%-36s %8s %8s %8s %10s\n", "system", "p50_s", "p95_s", "max_s", "lost_acked")
		fmt.Printf("%-36s %8.2f %8.2f %8.2f %10d\n", "plain "+m.engine.Title()+" + Sentinel", r50, r95, rmx, rlost)
		fmt.Printf("%-36s %8.2f %8.2f %8.2f %10d\n", "haredis", p50, p95, mx, lost)
		fmt.Printf("ratio haredis/plain (%s): p50 %.2f, p95 %.2f, max %.2f\n", m.engine.Name, p50/r50, p95/r95, mx/rmx)
		lines = append(lines, fmt.Sprintf("bench: failover engine=%s trials=%d p50_s=%.2f p95_s=%.2f max_s=%.2f lost_acked_total=%d",
			m.engine.Name, n, p50, p95, mx, lost))
	}
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

func runTrials(ctx context.Context, name string, t target, n int) ([]trial, error) {
	fmt.Printf("\n%s\n", name)
	var out []trial
	for i := 1; i <= n; i++ {
		r, err := runTrial(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("%s trial %d: %w", name, i, err)
		}
		fmt.Printf("  trial %2d: writes back after %5.2f s, %d acknowledged, %d lost\n", i, r.outage.Seconds(), r.acked, r.lost)
		out = append(out, r)
	}
	return out, nil
}

// runTrial writes without pause, kills the primary, and stops writing one
// second after writes succeed again.
func runTrial(ctx context.Context, t target) (trial, error) {
	if err := t.settle(ctx); err != nil {
		return trial{}, err
	}
	c := t.client()
	defer c.Close()
	prefix := fmt.Sprintf("t%d:", time.Now().UnixNano())
	var acked []string
	var killedAt, failedAt, backAt time.Time
	deadline := time.Now().Add(90 * time.Second)
	for seq := 0; time.Now().Before(deadline); seq++ {
		if seq == 200 {
			if err := t.kill(ctx, c); err != nil {
				return trial{}, err
			}
			killedAt = time.Now()
		}
		key := fmt.Sprintf("%s%d", prefix, seq)
		err := c.Set(ctx, key, seq, 0).Err()
		now := time.Now()
		switch {
		case err == nil:
			acked = append(acked, key)
			if !failedAt.IsZero() && backAt.IsZero() {
				backAt = now
			}
		case !killedAt.IsZero() && failedAt.IsZero():
			failedAt = now
		}
		if !backAt.IsZero() && now.Sub(backAt) > time.Second {
			break
		}
		if !killedAt.IsZero() && failedAt.IsZero() && now.Sub(killedAt) > 20*time.Second {
			return trial{}, errors.New("writes never failed in the 20 s after the kill: the client was not writing to the killed server")
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if killedAt.IsZero() || (!failedAt.IsZero() && backAt.IsZero()) {
		return trial{}, errors.New("writes did not come back within 90 s")
	}
	r := trial{acked: len(acked)}
	if !backAt.IsZero() {
		r.outage = backAt.Sub(killedAt)
	}
	if err := t.settle(ctx); err != nil {
		return trial{}, err
	}
	defer t.finish()
	for i := 0; i < len(acked); i += 1000 {
		batch := acked[i:min(i+1000, len(acked))]
		n, err := c.Exists(ctx, batch...).Result()
		if err != nil {
			return trial{}, fmt.Errorf("cannot check acknowledged keys: %w", err)
		}
		r.lost += len(batch) - int(n)
	}
	return r, nil
}

func summary(rs []trial) (p50, p95, mx float64, lost int) {
	var s []float64
	for _, r := range rs {
		s = append(s, r.outage.Seconds())
		lost += r.lost
	}
	sort.Float64s(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return q(0.5), q(0.95), s[len(s)-1], lost
}

// reference: one engine's plain server and sentinel on loopback, a fresh
// set for every trial: a killed plain server comes back as a master, which
// is what haredis fixes, not something to measure again and again here.
type reference struct {
	binaries engine.Binaries
	set      *redistest.Set
}

func (r *reference) client() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "bench", SentinelAddrs: r.set.SentinelAddrs(),
		Password: password, SentinelPassword: password, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
}

// kill kills the server the client writes to, found by its port.
func (r *reference) kill(ctx context.Context, c *redis.Client) error {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("cannot ask the primary for its port: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if port, ok := strings.CutPrefix(strings.TrimSpace(line), "tcp_port:"); ok {
			if s := r.set.Server(net.JoinHostPort("127.0.0.1", port)); s != nil {
				s.Kill()
				return nil
			}
			return fmt.Errorf("no server on port %s", port)
		}
	}
	return errors.New("INFO server has no tcp_port")
}

// settle starts a fresh set, or after a kill waits until the sentinels
// name a running primary.
func (r *reference) settle(ctx context.Context) error {
	if r.set == nil {
		set, err := redistest.StartSet(ctx, redistest.SetConfig{MasterName: "bench", Password: password, Replicas: 2, Sentinels: 3, DownAfter: downAfter,
			Binaries: r.binaries})
		if err != nil {
			return fmt.Errorf("cannot start %s with %s: %w", r.binaries.Server, r.binaries.Sentinel, err)
		}
		r.set = set
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return redistest.Wait(ctx, 100*time.Millisecond, func() error {
		master, err := r.set.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if s := r.set.Server(master); s == nil || !s.Running() {
			return errors.New("the sentinels have not failed over yet")
		}
		return nil
	})
}

func (r *reference) finish() {
	if r.set != nil {
		r.set.Close()
		r.set = nil
	}
}

// haredis: a RedisFailover on the bed, the operator running as a pod.
type haredis struct {
	env    *operatorbed.Env
	engine benchengine.Engine
	ns     string
	pw     string
	rf     *haredisv1.RedisFailover
}

// startHaredis creates a RedisFailover running e's image in a namespace of
// its own and waits until it is Ready.
func startHaredis(ctx context.Context, env *operatorbed.Env, e benchengine.Engine) (*haredis, error) {
	ns := "bench-failover-" + string(e.Name)
	rf, err := benchrf.Create(ctx, env, ns, e, func(rf *haredisv1.RedisFailover) {
		rf.Spec.Sentinel.DownAfter = &metav1.Duration{Duration: downAfter}
		rf.Spec.Sentinel.FailoverTimeout = &metav1.Duration{Duration: failoverTimeout}
	})
	if err != nil {
		return nil, err
	}
	pw, err := benchrf.Password(ctx, env.Client, ns)
	if err != nil {
		return nil, err
	}
	return &haredis{env: env, engine: e, ns: ns, pw: pw, rf: rf}, nil
}

func (h *haredis) client() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: h.rf.Status.MasterName, SentinelAddrs: []string{h.rf.Status.Endpoints.Sentinel},
		Password: h.pw, SentinelPassword: h.pw, Dialer: h.env.Dial, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
}

func (h *haredis) kill(ctx context.Context, _ *redis.Client) error {
	rf := &haredisv1.RedisFailover{}
	if err := h.env.Client.Get(ctx, client.ObjectKey{Namespace: h.ns, Name: benchrf.Name}, rf); err != nil {
		return err
	}
	for _, is := range rf.Status.Instances {
		if is.Name != rf.Status.CurrentPrimary {
			continue
		}
		ic, err := h.env.InstanceClient(ctx, h.ns, benchrf.Name, is.PodIP)
		if err != nil {
			return err
		}
		s, err := ic.Status(ctx)
		if err != nil || s.RedisPID == 0 {
			return fmt.Errorf("cannot read the primary's server pid: %v", err)
		}
		return syscall.Kill(s.RedisPID, syscall.SIGKILL)
	}
	return fmt.Errorf("primary %s not in status", rf.Status.CurrentPrimary)
}

func (h *haredis) finish() {}

// servers is what the instances report they run, "valkey 8.0.1" when they
// agree.
func (h *haredis) servers() string { return benchrf.Servers(h.rf) }

// delete deletes the RedisFailover and waits until its pods are gone, so
// that the next engine's trials share the bed with nothing else.
func (h *haredis) delete(ctx context.Context) error {
	if err := benchrf.Delete(ctx, h.env.Client, h.ns); err != nil {
		return fmt.Errorf("%s: %w", h.engine.Name, err)
	}
	return nil
}

// settle waits for Ready: every instance ready, sentinels agreeing and
// knowing every replica and peer.
func (h *haredis) settle(ctx context.Context) error {
	rf, err := benchrf.WaitReady(ctx, h.env.Client, h.ns, 5*time.Minute, nil)
	if err != nil {
		return err
	}
	h.rf = rf
	return nil
}
