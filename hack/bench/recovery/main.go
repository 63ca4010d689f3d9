// Command recovery-bench measures recovery after a full restart: every pod
// of a RedisFailover (instances, sentinels, proxies) deleted at once while
// a client writes through REDIS_URL (the proxy), first with the pods'
// default grace period (a restart of everything) and then with grace 0 (a
// crash of every node). Each trial reports the time from the delete until
// the first write through REDIS_URL succeeds again and until the
// RedisFailover's Ready condition is True again, and counts the
// acknowledged writes that are gone. The reference, measured in the same
// run, is the same engine's plain server with two replicas and three
// sentinels on loopback with the same persistence as haredis's default
// (AOF, fsync every second): every process SIGKILLed and started again,
// and the time until its primary takes writes again. It measures each
// engine (Valkey and Redis, -engines). Run it with `make bench-recovery`
// (root: the bed needs it).
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
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/hack/bench/internal/benchengine"
	"github.com/haredis/haredis/hack/bench/internal/benchrf"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
	"github.com/haredis/haredis/test/operatorbed"
)

const (
	password = "bench-recovery-password"
	// writeInterval paces the load: about 500 writes a second on the
	// 2-core machine, which leaves the bed the CPU to restart.
	writeInterval = time.Millisecond
	// before is how many writes are acknowledged before the delete.
	before = 500
	// after is how many more are acknowledged once writes are back,
	// before the trial ends and the acknowledged keys are counted.
	after = 1000
)

// deletion is one way to delete every pod of the RedisFailover.
type deletion struct {
	name  string // restart, crash: the bench line's prefix
	title string
	args  []string // kubectl delete flags
}

var deletions = []deletion{
	{"restart", "every pod deleted, default grace period", nil},
	{"crash", "every pod deleted with grace 0 (--force)", []string{"--grace-period=0", "--force"}},
}

// trial is one full restart as the REDIS_URL client saw it.
type trial struct {
	// write is from the delete (or the SIGKILLs) until the first write
	// that succeeded after the first that failed; steady until the first
	// write that succeeded after the last that failed.
	write, steady time.Duration
	// ready is from the delete until the Ready condition is True again
	// and the status describes the new pods; zero for the reference.
	ready time.Duration
	// readyFalse is from the delete until Ready was first seen other than
	// True; zero when it never was.
	readyFalse time.Duration
	// firstFailure is from the delete until the first write failed.
	firstFailure  time.Duration
	acked, failed int
	// replies counts the failed writes that got an error reply (of the
	// proxy or the server) rather than a connection error; messages are
	// the distinct replies with their counts.
	replies  int
	messages map[string]int
	// lost counts the acknowledged writes found missing after the trial:
	// of this trial's writes (lostFrom and lostTo say when they were
	// acknowledged, from the delete) and of earlier trials'.
	lost, lostEarlier int
	lostFrom, lostTo  time.Duration
}

func main() {
	trials := flag.Int("trials", 5, "full restarts per case and engine")
	engines := flag.String("engines", benchengine.Default, "engines to measure, comma-separated: valkey, redis")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	redis.SetLogger(quiet{})
	if err := run(*trials, *engines); err != nil {
		fmt.Fprintln(os.Stderr, "bench-recovery:", err)
		os.Exit(1)
	}
}

// measured is one engine's results.
type measured struct {
	engine  benchengine.Engine
	servers string
	plain   []trial
	// haredis holds the trials of each deletion, by name.
	haredis map[string][]trial
}

func run(n int, engineList string) error {
	engines, err := benchengine.Parse(engineList)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("the test bed needs root")
	}
	if n < 1 {
		return errors.New("-trials must be at least 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(engines))*60*time.Minute)
	defer cancel()
	fmt.Println("Load: one client writing SET every millisecond with no retries; haredis through REDIS_URL (the proxy), the plain reference")
	fmt.Println("straight to its primary. write = from the delete (or the SIGKILLs) to the first write that succeeds after the first that failed;")
	fmt.Println("ready = from the delete until Ready is True again, every pod replaced and ready, and the status gives the new pods' IPs;")
	fmt.Println("lost = acknowledged keys missing afterwards (every acknowledged key of the RedisFailover's trials so far is read back after each trial).")
	fmt.Println("The load's client dials once per write and never retries (go-redis's defaults would dial five times, 100 ms apart).")
	fmt.Println("haredis: 3 instances, 3 sentinels, 2 proxies, the API's defaults (persistence AOF, downAfter 1s);")
	fmt.Println("the plain reference: appendonly yes, appendfsync everysec, down-after-milliseconds 1000, quorum 2 of 3.")

	ms := make([]*measured, len(engines))
	for i, e := range engines {
		ms[i] = &measured{engine: e, haredis: map[string][]trial{}}
		if ms[i].plain, err = reference(ctx, e, n); err != nil {
			return err
		}
	}

	env, err := operatorbed.Start(ctx, logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer env.Stop()
	for _, m := range ms {
		if err := runHaredis(ctx, env, m, n); err != nil {
			fmt.Println(env.OperatorLog(ctx, 100))
			return err
		}
		if err := benchrf.Delete(ctx, env.Client, namespace(m.engine)); err != nil {
			fmt.Printf("warning: %v\n", err)
		}
	}

	var lines []string
	for _, m := range ms {
		lines = append(lines, report(m))
	}
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

// report prints one engine's table and ratios and returns its bench line.
func report(m *measured) string {
	fmt.Printf("\nengine %s: haredis %s (%s), plain %s\n", m.engine.Name, m.engine.Image, m.servers, m.engine.Server)
	fmt.Printf("%-52s %11s %11s %11s %11s %6s\n", "system, case", "write_p50_s", "write_max_s", "ready_p50_s", "ready_max_s", "lost")
	row := func(name string, ts []trial, ready bool) (w50, wmax, r50 float64, lost int) {
		w50, wmax = quantiles(ts, func(t trial) time.Duration { return t.write })
		r50, rmax := quantiles(ts, func(t trial) time.Duration { return t.ready })
		for _, t := range ts {
			lost += t.lost
		}
		if ready {
			fmt.Printf("%-52s %11.2f %11.2f %11.2f %11.2f %6d\n", name, w50, wmax, r50, rmax, lost)
		} else {
			fmt.Printf("%-52s %11.2f %11.2f %11s %11s %6d\n", name, w50, wmax, "-", "-", lost)
		}
		return w50, wmax, r50, lost
	}
	p50, _, _, _ := row("plain "+m.engine.Title()+" + Sentinel, all SIGKILLed and restarted", m.plain, false)
	type figures struct {
		w50, wmax, r50 float64
		lost           int
	}
	f := map[string]figures{}
	for _, d := range deletions {
		var x figures
		x.w50, x.wmax, x.r50, x.lost = row("haredis, "+d.title, m.haredis[d.name], true)
		f[d.name] = x
	}
	rs, cr := f["restart"], f["crash"]
	fmt.Printf("ratio haredis/plain write p50 (%s): restart %.1f, crash %.1f\n", m.engine.Name, rs.w50/p50, cr.w50/p50)
	for _, d := range deletions {
		ts := m.haredis[d.name]
		s50, smax := quantiles(ts, func(t trial) time.Duration { return t.steady })
		fmt.Printf("%s: writes steady again (after the last failed write): p50 %.2f s, max %.2f s", d.name, s50, smax)
		var falseAt []string
		for _, t := range ts {
			if t.readyFalse > 0 {
				falseAt = append(falseAt, fmt.Sprintf("%.2f", t.readyFalse.Seconds()))
			} else {
				falseAt = append(falseAt, "never")
			}
		}
		fmt.Printf("; Ready seen False from (s after the delete): %s\n", strings.Join(falseAt, ", "))
	}
	return fmt.Sprintf("bench: recovery engine=%s restart_write_p50_s=%.2f restart_write_max_s=%.2f restart_ready_p50_s=%.2f crash_write_p50_s=%.2f crash_write_max_s=%.2f crash_ready_p50_s=%.2f lost_writes=%d plain_restart_write_p50_s=%.2f",
		m.engine.Name, rs.w50, rs.wmax, rs.r50, cr.w50, cr.wmax, cr.r50, rs.lost+cr.lost, p50)
}

// quantiles returns the median and the maximum of one figure of ts, in
// seconds.
func quantiles(ts []trial, of func(trial) time.Duration) (p50, mx float64) {
	var s []float64
	for _, t := range ts {
		s = append(s, of(t).Seconds())
	}
	sort.Float64s(s)
	return s[len(s)/2], s[len(s)-1]
}

func printTrial(i int, t trial) {
	fmt.Printf("  trial %d: writes back after %6.2f s (steady after %6.2f s)", i, t.write.Seconds(), t.steady.Seconds())
	if t.ready > 0 {
		fmt.Printf(", Ready after %6.2f s", t.ready.Seconds())
		if t.readyFalse > 0 {
			fmt.Printf(" (False from %.2f s)", t.readyFalse.Seconds())
		} else {
			fmt.Print(" (never seen False)")
		}
	}
	fmt.Printf("; first failed write after %.2f s, %d failed (%d error replies), %d acknowledged, %d lost", t.firstFailure.Seconds(), t.failed, t.replies, t.acked, t.lost)
	if t.lost > t.lostEarlier {
		fmt.Printf(" (acknowledged %+.3f s to %+.3f s from the delete)", t.lostFrom.Seconds(), t.lostTo.Seconds())
	}
	if t.lostEarlier > 0 {
		fmt.Printf(", of them %d of earlier trials", t.lostEarlier)
	}
	fmt.Println()
	for _, m := range sortedMessages(t.messages) {
		fmt.Printf("    error reply %dx: %s\n", t.messages[m], m)
	}
}

// sortedMessages returns the keys of ms, the most frequent first.
func sortedMessages(ms map[string]int) []string {
	var out []string
	for m := range ms {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return ms[out[i]] > ms[out[j]] || ms[out[i]] == ms[out[j]] && out[i] < out[j] })
	return out
}

// reference restarts e's plain server, two replicas and three sentinels n
// times, each time a fresh set: every process SIGKILLed, then all started
// again at once on their files, as a machine's supervisor would after a
// crash.
func reference(ctx context.Context, e benchengine.Engine, n int) ([]trial, error) {
	fmt.Printf("\nplain %s + Sentinel (%s, %s and %s on loopback), every process SIGKILLed and started again\n", e.Title(), e.Server, e.Binaries.Server, e.Binaries.Sentinel)
	var out []trial
	for i := 1; i <= n; i++ {
		t, err := referenceTrial(ctx, e, i)
		if err != nil {
			return nil, fmt.Errorf("plain %s trial %d: %w", e.Name, i, err)
		}
		printTrial(i, t)
		out = append(out, t)
	}
	return out, nil
}

func referenceTrial(ctx context.Context, e benchengine.Engine, i int) (trial, error) {
	set, err := redistest.StartSet(ctx, redistest.SetConfig{MasterName: "bench", Password: password, Replicas: 2, Sentinels: 3, DownAfter: time.Second,
		Extra: []string{"appendonly yes", "appendfsync everysec"}, Binaries: e.Binaries})
	if err != nil {
		return trial{}, fmt.Errorf("cannot start %s with %s: %w", e.Binaries.Server, e.Binaries.Sentinel, err)
	}
	defer set.Close()
	primary := set.Servers[0]
	c := newClient(&redis.Options{Addr: primary.Addr(), Password: password})
	defer c.Close()
	rec := &outcomes{}
	c.AddHook(rec)
	load := writeload.Start(ctx, c, writeload.Options{Prefix: fmt.Sprintf("plain-%d", i), Interval: writeInterval, MaxDuration: 5 * time.Minute})
	defer load.Stop()
	if err := waitAcked(ctx, load, before, time.Minute); err != nil {
		return trial{}, err
	}

	at := time.Now()
	type proc interface {
		Kill()
		Restart() error
	}
	var procs []proc
	for _, s := range set.Sentinels {
		procs = append(procs, s)
	}
	for _, s := range set.Servers {
		procs = append(procs, s)
	}
	for _, p := range procs {
		p.Kill()
	}
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for j, p := range procs {
		wg.Go(func() { errs[j] = p.Restart() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return trial{}, fmt.Errorf("cannot start the processes again: %w", err)
	}
	if err := rec.waitBack(ctx, at, time.Minute); err != nil {
		return trial{}, err
	}
	if err := waitAcked(ctx, load, after, time.Minute); err != nil {
		return trial{}, err
	}
	rep := load.Stop()
	t := rec.trial(at)
	t.acked = len(rep.Acked)
	// The sentinels must still name the primary the client wrote to: a
	// failover in between would make the count below meaningless.
	master, err := set.MasterAddr(ctx)
	if err != nil {
		return trial{}, err
	}
	if master != primary.Addr() {
		return trial{}, fmt.Errorf("the sentinels failed over to %s during the restart", master)
	}
	lost, err := lostKeys(ctx, c, []writeload.Report{rep})
	if err != nil {
		return trial{}, err
	}
	t.lost = len(lost)
	t.lostFrom, t.lostTo = rec.ackedWithin(lost, at)
	return t, nil
}

// namespace is where e's RedisFailover runs.
func namespace(e benchengine.Engine) string { return "bench-recovery-" + string(e.Name) }

// runHaredis creates e's RedisFailover and restarts it n times by each
// deletion.
func runHaredis(ctx context.Context, env *operatorbed.Env, m *measured, n int) error {
	ns := namespace(m.engine)
	rf, err := benchrf.Create(ctx, env, ns, m.engine, nil)
	if err != nil {
		return err
	}
	m.servers = benchrf.Servers(rf)
	pw, err := benchrf.Password(ctx, env.Client, ns)
	if err != nil {
		return err
	}
	fmt.Printf("\nharedis RedisFailover (test bed, spec.redis.image %s, instances run %s), REDIS_URL %s\n", m.engine.Image, m.servers, rf.Status.Endpoints.RedisURL)
	h := &haredis{env: env, ns: ns, pw: pw, addr: strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://")}
	for _, d := range deletions {
		fmt.Printf("%s (kubectl delete pod -l %s=%s %s)\n", d.title, specs.LabelInstance, benchrf.Name, strings.Join(d.args, " "))
		for i := 1; i <= n; i++ {
			t, err := h.trial(ctx, d, i)
			if err != nil {
				return fmt.Errorf("%s, %s, trial %d: %w", m.engine.Name, d.name, i, err)
			}
			printTrial(i, t)
			m.haredis[d.name] = append(m.haredis[d.name], t)
		}
	}
	return nil
}

// haredis is the RedisFailover under test and the writes made to it.
type haredis struct {
	env  *operatorbed.Env
	ns   string
	pw   string
	addr string // REDIS_URL's host:port
	// reports are the loads of the trials so far, whose acknowledged
	// writes must all still be there; missing is how many were missing
	// after the last trial.
	reports []writeload.Report
	missing int
}

// newClient makes the load's client: no retries, and a failed dial tried
// once, so that each SET says at once whether the server takes writes.
// The read timeout leaves the proxy the time to answer a command it holds
// while it has no primary (--primary-wait, 3 s). go-redis stops dialing
// after PoolSize dials failed in a row and then tries once a second: the
// pool is large enough that a restart does not get there.
func newClient(o *redis.Options) *redis.Client {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = time.Second, 5*time.Second, time.Second
	o.MaxRetries, o.DialerRetries, o.PoolSize = -1, 1, 100_000
	return redis.NewClient(o)
}

func (h *haredis) client() *redis.Client {
	return newClient(&redis.Options{Addr: h.addr, Password: h.pw, Dialer: h.env.Dial})
}

func (h *haredis) pods(ctx context.Context) ([]corev1.Pod, error) {
	var pods corev1.PodList
	err := h.env.Client.List(ctx, &pods, client.InNamespace(h.ns), client.MatchingLabels{specs.LabelInstance: benchrf.Name})
	return pods.Items, err
}

// trial waits until the RedisFailover is whole, writes through REDIS_URL,
// deletes every pod as d says, and waits until Ready and writes are back.
func (h *haredis) trial(ctx context.Context, d deletion, i int) (trial, error) {
	if _, err := benchrf.WaitReady(ctx, h.env.Client, h.ns, 5*time.Minute, nil); err != nil {
		return trial{}, fmt.Errorf("not Ready before the trial: %w", err)
	}
	c := h.client()
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := redistest.Wait(wctx, 200*time.Millisecond, func() error { return c.Set(wctx, "ready", "1", 0).Err() })
	cancel()
	if err != nil {
		return trial{}, fmt.Errorf("REDIS_URL does not take writes before the trial: %w", err)
	}
	rec := &outcomes{}
	c.AddHook(rec)
	load := writeload.Start(ctx, c, writeload.Options{Prefix: fmt.Sprintf("%s-%d", d.name, i), Interval: writeInterval, MaxDuration: 10 * time.Minute})
	defer load.Stop()
	if err := waitAcked(ctx, load, before, time.Minute); err != nil {
		return trial{}, err
	}
	old, err := h.pods(ctx)
	if err != nil {
		return trial{}, err
	}
	uids := map[types.UID]string{}
	for _, p := range old {
		uids[p.UID] = p.Name
	}

	primaryBefore := ""
	if rf, err := benchrf.Get(ctx, h.env.Client, h.ns); err == nil {
		primaryBefore = rf.Status.CurrentPrimary
	}
	at := time.Now()
	args := append([]string{"-n", h.ns, "delete", "pod", "-l", specs.LabelInstance + "=" + benchrf.Name, "--wait=false"}, d.args...)
	if out, err := h.env.Kubectl(ctx, args...); err != nil {
		return trial{}, fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	var t trial
	_, err = benchrf.WaitReady(ctx, h.env.Client, h.ns, 8*time.Minute, func(rf *haredisv1.RedisFailover) error {
		if t.readyFalse == 0 && !meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) {
			t.readyFalse = time.Since(at)
		}
		return h.replaced(ctx, rf, uids)
	})
	if err != nil {
		return trial{}, fmt.Errorf("not Ready again after the delete of %d pods: %w", len(old), err)
	}
	t.ready = time.Since(at)
	if err := rec.waitBack(ctx, at, 2*time.Minute); err != nil {
		return trial{}, fmt.Errorf("writes not back although Ready after %.1f s: %w", t.ready.Seconds(), err)
	}
	if err := waitAcked(ctx, load, after, 2*time.Minute); err != nil {
		return trial{}, err
	}
	rep := load.Stop()
	w := rec.trial(at)
	t.write, t.steady, t.failed, t.replies, t.messages, t.firstFailure = w.write, w.steady, w.failed, w.replies, w.messages, w.firstFailure
	t.acked = len(rep.Acked)
	own, err := lostKeys(ctx, c, []writeload.Report{rep})
	if err != nil {
		return trial{}, err
	}
	t.lostFrom, t.lostTo = rec.ackedWithin(own, at)
	earlier, err := lostKeys(ctx, c, h.reports)
	if err != nil {
		return trial{}, err
	}
	h.reports = append(h.reports, rep)
	t.lostEarlier = len(earlier) - h.missing
	t.lost = len(own) + t.lostEarlier
	h.missing = len(earlier) + len(own)
	if t.lost > 0 {
		h.explainLoss(ctx, primaryBefore)
	}
	return t, nil
}

// explainLoss prints what a trial that lost writes needs to tell why: the
// primary before and after, and each new instance's boot decision.
func (h *haredis) explainLoss(ctx context.Context, primaryBefore string) {
	after := ""
	if rf, err := benchrf.Get(ctx, h.env.Client, h.ns); err == nil {
		after = rf.Status.CurrentPrimary
	}
	fmt.Printf("    primary before the delete %s, after %s\n", primaryBefore, after)
	pods, err := h.pods(ctx)
	if err != nil {
		return
	}
	for _, p := range pods {
		if p.Labels[specs.LabelComponent] != specs.ComponentRedis {
			continue
		}
		out, _ := h.env.Kubectl(ctx, "-n", h.ns, "logs", p.Name, "-c", "redis")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "boot decision") || strings.Contains(line, "redis-server started") {
				fmt.Printf("    %s: %s\n", p.Name, line)
			}
		}
	}
}

// replaced tells whether every pod of the RedisFailover was replaced (none
// has a UID of uids), the new instance and sentinel pods are all there and
// ready, a proxy pod is ready, and rf's status describes the new instance
// pods (their IPs): a status read before the operator saw them says
// nothing about the new pods.
func (h *haredis) replaced(ctx context.Context, rf *haredisv1.RedisFailover, uids map[types.UID]string) error {
	pods, err := h.pods(ctx)
	if err != nil {
		return err
	}
	ips := map[string]string{}
	ready := map[string]int{}
	for _, p := range pods {
		if name, ok := uids[p.UID]; ok {
			return fmt.Errorf("pod %s not replaced yet", name)
		}
		if isReady(&p) {
			ready[p.Labels[specs.LabelComponent]]++
		}
		if p.Labels[specs.LabelComponent] == specs.ComponentRedis {
			ips[p.Name] = p.Status.PodIP
		}
	}
	if ready[specs.ComponentRedis] != int(rf.Spec.Redis.Replicas) || ready[specs.ComponentSentinel] != int(rf.Spec.Sentinel.Replicas) ||
		(rf.ProxyEnabled() && ready[specs.ComponentProxy] == 0) {
		return fmt.Errorf("ready pods: %d instances, %d sentinels, %d proxies", ready[specs.ComponentRedis], ready[specs.ComponentSentinel], ready[specs.ComponentProxy])
	}
	for _, is := range rf.Status.Instances {
		if is.PodIP != ips[is.Name] {
			return fmt.Errorf("the status gives %s for %s, whose pod has %s", is.PodIP, is.Name, ips[is.Name])
		}
	}
	return nil
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// lostKeys reads every acknowledged key of reps back through c and
// returns those missing, trying again for up to 30 s when a read fails.
func lostKeys(ctx context.Context, c redis.Cmdable, reps []writeload.Report) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []string
	err := redistest.Wait(ctx, 500*time.Millisecond, func() error {
		out = nil
		for _, r := range reps {
			lost, err := r.Lost(ctx, c)
			if err != nil {
				return err
			}
			out = append(out, lost...)
		}
		return nil
	})
	return out, err
}

// waitAcked waits up to timeout for n more acknowledged writes.
func waitAcked(ctx context.Context, l *writeload.Load, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return l.WaitAcked(ctx, n)
}

// outcomes is a go-redis hook that records when each SET ended and
// whether it succeeded, which writeload keeps to itself.
type outcomes struct {
	mu     sync.Mutex
	events []outcome
}

type outcome struct {
	at  time.Time
	key string
	ok  bool
	// reply is the error reply of the server (or the proxy), empty for a
	// success or a connection error.
	reply string
}

func (o *outcomes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *outcomes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (o *outcomes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "set" && ctx.Err() == nil {
			e := outcome{at: time.Now(), ok: err == nil}
			if args := cmd.Args(); len(args) > 1 {
				e.key, _ = args[1].(string)
			}
			if err != nil && writeload.IsReply(err) {
				e.reply = err.Error()
			}
			o.mu.Lock()
			o.events = append(o.events, e)
			o.mu.Unlock()
		}
		return err
	}
}

// back returns the first write that succeeded after the first that failed
// from since on, and whether there is one.
func (o *outcomes) back(since time.Time) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	failed := false
	for _, e := range o.events {
		switch {
		case e.at.Before(since):
		case !e.ok:
			failed = true
		case failed:
			return e.at, true
		}
	}
	return time.Time{}, false
}

// waitBack waits up to timeout until a write succeeded after one failed
// from since on.
func (o *outcomes) waitBack(ctx context.Context, since time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return redistest.Wait(ctx, 10*time.Millisecond, func() error {
		if _, ok := o.back(since); !ok {
			return errors.New("no write succeeded after the first failed one")
		}
		return nil
	})
}

// trial reads the writes from since on: when they came back (the first
// success after the first failure), when they were steady (the first
// success after the last failure), when the first failed, how many failed
// and how many of those were error replies.
func (o *outcomes) trial(since time.Time) trial {
	back, _ := o.back(since)
	o.mu.Lock()
	defer o.mu.Unlock()
	t := trial{messages: map[string]int{}}
	var lastFailure time.Time
	for _, e := range o.events {
		if e.at.Before(since) {
			continue
		}
		if !e.ok {
			t.failed++
			if e.reply != "" {
				t.replies++
				t.messages[e.reply]++
			}
			if t.failed == 1 {
				t.firstFailure = e.at.Sub(since)
			}
			lastFailure = e.at
		}
	}
	t.write = back.Sub(since)
	for _, e := range o.events {
		if e.ok && e.at.After(lastFailure) && !e.at.Before(since) {
			t.steady = e.at.Sub(since)
			break
		}
	}
	return t
}

// ackedWithin returns when the first and the last of keys were
// acknowledged, from since (negative: before it).
func (o *outcomes) ackedWithin(keys []string, since time.Time) (first, last time.Duration) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := false
	for _, e := range o.events {
		if !e.ok || !want[e.key] {
			continue
		}
		d := e.at.Sub(since)
		if !seen {
			first, seen = d, true
		}
		last = d
	}
	return first, last
}

// quiet drops go-redis's log lines: every failed dial of a restart would
// print one.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
