package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/bed/fault"
	"github.com/haredis/haredis/test/operatorbed"
)

// Recovery bounds: a step that does not settle (Ready for the current
// generation, every pod ready, both writers acknowledging writes again)
// within its bound counts as stuck and ends the sequence. Measured from the
// step's start on the 2-core bed shared with other test runs; a failover
// itself takes 2-3 s there, the rest is pods restarting, resynchronising and
// the operator's observation.
const (
	// BoundUnplanned: one fault (a kill, a forced deletion, a partition
	// after it heals, a double fault after the second).
	BoundUnplanned = 90 * time.Second
	// BoundFullRestart: every pod at once, or the RedisFailover deleted and
	// created again (its old pods must go first: up to 40 s of graceful
	// shutdown).
	BoundFullRestart = 240 * time.Second
	// BoundPlanned: a switchover, a scale, a parameter or durability change,
	// a graceful deletion of a replica, the auth Secret.
	BoundPlanned = 120 * time.Second
	// BoundRolling: operations that replace every instance one at a time
	// with a switchover (rolling update, persistence change).
	BoundRolling = 300 * time.Second
	// BoundCreate: a new RedisFailover Ready.
	BoundCreate = 5 * time.Minute
)

const (
	// lossWindow: an unplanned fault of the primary may lose the writes it
	// acknowledged in the lossWindow before the fault and not yet
	// replicated (asynchronous replication, typically a few milliseconds).
	lossWindow = time.Second
	// aofWindow: a forced stop of every instance at once with AOF may lose
	// what appendfsync everysec had not written (Redis postpones the write
	// by up to 2 s while an fsync is pending).
	aofWindow = 2 * time.Second
	// settleHold: a step is settled once its conditions held this long and
	// both writers acknowledged a write since they began to hold.
	settleHold = time.Second
)

// Options of a sequence.
type Options struct {
	// Logf receives the sequence's progress (t.Logf, or a printer).
	Logf func(format string, args ...any)
	// Name of the RedisFailover; app when empty.
	Name string
	// Restore, when set, ends the sequence with a backup to this store
	// taken under load, restored into a new RedisFailover and compared
	// with the acknowledged writes (the "restore and compare" step).
	Restore *RestoreStore
	// Pool runs the RedisFailover on a SentinelPool of three sentinels
	// (created in its namespace) instead of dedicated sentinels.
	Pool bool
}

// StepResult is what one step did and what was checked after it.
type StepResult struct {
	Index   int
	Step    Step
	Planned bool
	// Done describes the step as it ran: the pods it resolved to.
	Done     string
	Start    time.Time
	Recovery time.Duration
	Stuck    bool
	// Lost*: acknowledged writes found missing after the step. LostOld are
	// unplanned losses outside the allowed window (written before it).
	LostPlanned, LostUnplanned, LostOld int
	Notes                               []string
}

// Result of a sequence.
type Result struct {
	Plan  Plan
	Steps []StepResult
	// Namespace the sequence ran in.
	Namespace                  string
	LostPlanned, LostUnplanned int
	MaxRecovery                time.Duration
	Stuck                      int
	WrongStatus                int
	// Violations are the broken invariants; the sequence failed when there
	// is any.
	Violations []string
	Writes     int
	// Restore says how the "restore and compare" step went, when it ran.
	Restore string
}

// Failed tells whether an invariant broke.
func (r *Result) Failed() bool { return len(r.Violations) > 0 }

// Report lists the seed, how to replay it, every step with its outcome and
// the violations.
func (r *Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos sequence seed %d (replay: make chaos SEED=%d CHAOS_STEPS=%d) in namespace %s: %d instances, persistence %s\n",
		r.Plan.Seed, r.Plan.Seed, len(r.Plan.Steps), r.Namespace, r.Plan.Replicas, r.Plan.Persistence)
	for i, s := range r.Plan.Steps {
		if i >= len(r.Steps) {
			fmt.Fprintf(&b, "  %2d. [%s] %s: not run\n", i+1, s.Class(), s.Name())
			continue
		}
		sr := r.Steps[i]
		state := fmt.Sprintf("Ready after %.1fs", sr.Recovery.Seconds())
		if sr.Stuck {
			state = "STUCK"
		}
		fmt.Fprintf(&b, "  %2d. [%s] %s: %s; %s; lost planned %d unplanned %d (outside the window %d)\n",
			i+1, s.Class(), s.Name(), sr.Done, state, sr.LostPlanned, sr.LostUnplanned, sr.LostOld)
		for _, n := range sr.Notes {
			fmt.Fprintf(&b, "        %s\n", n)
		}
	}
	fmt.Fprintf(&b, "  writes acknowledged %d, lost planned %d, lost unplanned %d, max recovery %.1fs, stuck %d, wrong status %d\n",
		r.Writes, r.LostPlanned, r.LostUnplanned, r.MaxRecovery.Seconds(), r.Stuck, r.WrongStatus)
	if r.Restore != "" {
		fmt.Fprintf(&b, "  restore and compare: %s\n", r.Restore)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  VIOLATION: %s\n", v)
	}
	return b.String()
}

// runner carries one sequence.
type runner struct {
	env  *operatorbed.Env
	kc   client.Client
	inj  *fault.Injector
	plan Plan
	logf func(string, ...any)
	name string
	ns   string
	res  *Result

	step       atomic.Int32
	pw         string
	masterName string
	// sentinelAddr is status.endpoints.sentinel.
	sentinelAddr string
	uid          types.UID
	// pool is the SentinelPool's name when the sequence runs on one
	// (Options.Pool), poolPW its admin password.
	pool, poolPW string
	sw, uw       *writer
	poll         *poller
	lost         map[string]bool
	excused      []window
	heals        []func(context.Context) error
	opStopped    bool
}

// stepRun is a step while it runs.
type stepRun struct {
	idx   int
	step  Step
	start time.Time
	bound time.Duration
	done  []string
	notes []string
	waits []waitFn
	// firstFault is when the first fault was injected; lossFrom the start
	// of the window in which an unplanned step may lose acknowledged writes
	// (zero: from the first fault on, nothing before it).
	firstFault time.Time
	lossFrom   time.Time
	// killed: instances whose memory the step destroyed.
	killed map[string]bool
	// noOldCheck: every instance lost its memory with RDB persistence; the
	// snapshot period, not replication, bounds the loss.
	noOldCheck bool
}

type waitFn struct {
	what string
	fn   func(ctx context.Context, rf *haredisv1.RedisFailover) error
}

func (st *stepRun) wait(what string, fn func(ctx context.Context, rf *haredisv1.RedisFailover) error) {
	st.waits = append(st.waits, waitFn{what, fn})
}

func (st *stepRun) note(format string, args ...any) {
	st.notes = append(st.notes, fmt.Sprintf(format, args...))
}

// fault records an injected fault; onPrimary widens the loss window to the
// lossWindow before it.
func (st *stepRun) fault(at time.Time, onPrimary bool, what string) {
	st.done = append(st.done, what)
	if st.firstFault.IsZero() {
		st.firstFault = at
		st.lossFrom = at
	}
	if onPrimary && at.Add(-lossWindow).Before(st.lossFrom) {
		st.lossFrom = at.Add(-lossWindow)
	}
}

// Run runs one sequence on the bed: a new namespace with one RedisFailover
// shaped by the plan, two checked writers, the plan's steps with the
// invariants checked after each, and a teardown that always restores the
// operator and heals partitions.
func Run(ctx context.Context, env *operatorbed.Env, plan Plan, o Options) *Result {
	if o.Name == "" {
		o.Name = "app"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	r := &runner{env: env, kc: env.Client, inj: fault.New(env.Bed), plan: plan, logf: o.Logf, name: o.Name,
		res: &Result{Plan: plan}, lost: map[string]bool{}}
	if o.Pool {
		r.pool = "pool"
	}
	defer r.cleanup()
	r.logf("chaos: %s", strings.TrimSpace(plan.String()))
	if err := r.setup(ctx); err != nil {
		r.res.Stuck++
		r.res.Violations = append(r.res.Violations, "setup: "+err.Error())
		r.diagnose(ctx)
		r.finish(ctx)
		return r.res
	}
	for i, s := range plan.Steps {
		if ctx.Err() != nil {
			r.res.Violations = append(r.res.Violations, "interrupted: "+ctx.Err().Error())
			break
		}
		if !r.runStep(ctx, i+1, s) {
			break
		}
	}
	if o.Restore != nil && len(r.res.Violations) == 0 && ctx.Err() == nil {
		r.restoreAndCompare(ctx, o.Restore)
	}
	r.finish(ctx)
	return r.res
}

func (r *runner) getRF(ctx context.Context) (*haredisv1.RedisFailover, error) {
	rf := &haredisv1.RedisFailover{}
	return rf, r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: r.name}, rf)
}

// setup creates the namespace and the RedisFailover, waits until it is
// Ready and starts the writers and the status poller.
func (r *runner) setup(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: fmt.Sprintf("chaos-%d-", r.plan.Seed)}}
	if err := r.kc.Create(ctx, ns); err != nil {
		return fmt.Errorf("cannot create a namespace: %w", err)
	}
	r.ns, r.res.Namespace = ns.Name, ns.Name
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: r.name}}
	if r.pool != "" {
		if err := r.kc.Create(ctx, &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: r.pool}}); err != nil {
			return fmt.Errorf("cannot create the SentinelPool: %w", err)
		}
		rf.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: r.pool}
	}
	rf.Spec.Redis.Replicas = r.plan.Replicas
	rf.Spec.Redis.Persistence = haredisv1.PersistenceMode(r.plan.Persistence)
	if err := r.kc.Create(ctx, rf); err != nil {
		return fmt.Errorf("cannot create the RedisFailover: %w", err)
	}
	start := time.Now()
	st := &stepRun{start: start, bound: BoundCreate}
	if _, err := r.settleWithoutWriters(ctx, st); err != nil {
		return fmt.Errorf("the new RedisFailover is not Ready within %s: %w", BoundCreate, err)
	}
	rf, err := r.getRF(ctx)
	if err != nil {
		return err
	}
	if err := r.readIdentity(ctx, rf); err != nil {
		return err
	}
	r.logf("chaos: %s/%s Ready in %.1fs (master name %s)", r.ns, r.name, time.Since(start).Seconds(), r.masterName)
	r.sw = startWriter(ctx, "sentinel-aware", "chaos:s:", r.sentinelClient(), &r.step)
	r.uw = startWriter(ctx, "REDIS_URL", "chaos:u:", r.urlClient(), &r.step)
	r.poll = startPoller(ctx, r.kc, r.ns, r.name)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for r.sw.ackedSince(start) < 50 || r.uw.ackedSince(start) < 50 {
		select {
		case <-wctx.Done():
			return fmt.Errorf("the writers do not write: sentinel-aware %d acknowledged (last failure %s), REDIS_URL %d (last failure %s)",
				r.sw.ackedSince(start), r.sw.lastFailure(), r.uw.ackedSince(start), r.uw.lastFailure())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// readIdentity reads the password, the master name and the UID the clients
// need.
func (r *runner) readIdentity(ctx context.Context, rf *haredisv1.RedisFailover) error {
	s := &corev1.Secret{}
	if err := r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: rf.AuthSecretName()}, s); err != nil {
		return fmt.Errorf("cannot read the password: %w", err)
	}
	// A RedisFailover created again under the same name: its Secret, not
	// the old one's on its way out.
	for _, o := range s.OwnerReferences {
		if o.UID != rf.UID {
			return fmt.Errorf("the Secret %s belongs to RedisFailover %s, not %s", s.Name, o.UID, rf.UID)
		}
	}
	if rf.Status.MasterName == "" || rf.Status.Endpoints.Sentinel == "" {
		return errors.New("status.masterName or status.endpoints.sentinel is empty")
	}
	r.pw, r.masterName, r.sentinelAddr, r.uid = string(s.Data[specs.PasswordKey]), rf.Status.MasterName, rf.Status.Endpoints.Sentinel, rf.UID
	if r.pool != "" {
		ps := &corev1.Secret{}
		if err := r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: r.pool + "-sentinel-auth"}, ps); err != nil {
			return fmt.Errorf("cannot read the pool's password: %w", err)
		}
		r.poolPW = string(ps.Data[specs.PoolPasswordKey])
	}
	return nil
}

func (r *runner) sentinelClient() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: r.masterName, SentinelAddrs: []string{r.sentinelAddr},
		Password: r.pw, SentinelPassword: r.pw, Dialer: r.env.Dial,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second,
	})
}

// urlClient writes through REDIS_URL: the Service NAME, the proxy. One
// attempt per write, so that every failure is seen.
func (r *runner) urlClient() *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: net.JoinHostPort(specs.ServiceHost(r.rfKey(), r.name), "6379"), Password: r.pw, Dialer: r.env.Dial,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 2,
	})
}

func (r *runner) rfKey() *haredisv1.RedisFailover {
	return &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: r.name}}
}

func (r *runner) plainClient(addr string) *redis.Client {
	return r.plainClientWith(addr, r.pw)
}

func (r *runner) plainClientWith(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, Dialer: r.env.Dial,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: -1})
}

// runStep runs one step and checks the invariants after it; false ends the
// sequence.
func (r *runner) runStep(ctx context.Context, idx int, s Step) bool {
	st := &stepRun{idx: idx, step: s, start: time.Now(), killed: map[string]bool{}}
	r.step.Store(int32(idx))
	r.logf("chaos: step %d/%d [%s] %s", idx, len(r.plan.Steps), s.Class(), s.Name())
	sr := StepResult{Index: idx, Step: s, Planned: s.Planned(), Start: st.start}
	defer func() {
		sr.Done, sr.Notes = strings.Join(st.done, ", "), st.notes
		r.res.Steps = append(r.res.Steps, sr)
		r.res.LostPlanned += sr.LostPlanned
		r.res.LostUnplanned += sr.LostUnplanned
		r.res.MaxRecovery = max(r.res.MaxRecovery, sr.Recovery)
	}()
	if err := r.execute(ctx, st, s); err != nil {
		st.note("the step could not run: %v", err)
		r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s) could not run: %v", idx, s.Name(), err))
		sr.Stuck = true
		r.res.Stuck++
		r.diagnose(ctx)
		return false
	}
	settled, err := r.settle(ctx, st)
	if err != nil {
		sr.Stuck = true
		r.res.Stuck++
		r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s) stuck: %v", idx, s.Name(), err))
		st.note("stuck: %v", err)
		r.logf("chaos: step %d STUCK: %v", idx, err)
		r.diagnose(ctx)
		return false
	}
	sr.Recovery = settled.Sub(st.start)
	if d, phases := notReadyDuring(r.poll.snapshot(), st.start, time.Now()); d > 0 {
		st.note("status not Ready for %.1fs (phases %s)", d.Seconds(), strings.Join(phases, ", "))
	}
	for _, w := range []*writer{r.uw, r.sw} {
		if n, win, first := w.failuresBetween(st.start, time.Now()); n > 0 {
			st.note("%s: %d writes failed within %.1fs, first %q", w.name, n, win.Seconds(), first)
		}
	}
	r.logf("chaos: step %d settled %.1fs after its start: %s", idx, sr.Recovery.Seconds(), strings.Join(st.done, ", "))
	r.checkData(ctx, st, &sr)
	r.checkTopology(ctx, st)
	if sr.LostPlanned > 0 {
		// A planned operation lost acknowledged writes: what the operator,
		// the instances and the sentinels said tells why.
		r.diagnose(ctx)
	}
	return true
}

// settle waits until the step's conditions and the RedisFailover's
// readiness hold for settleHold and both writers acknowledged a write
// since; it returns when they began to hold.
func (r *runner) settle(ctx context.Context, st *stepRun) (time.Time, error) {
	return r.settleLoop(ctx, st, true)
}

func (r *runner) settleWithoutWriters(ctx context.Context, st *stepRun) (time.Time, error) {
	return r.settleLoop(ctx, st, false)
}

func (r *runner) settleLoop(ctx context.Context, st *stepRun, writers bool) (time.Time, error) {
	deadline := st.start.Add(st.bound)
	var since time.Time
	var last error
	var seen reasons
	for {
		now := time.Now()
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("not Ready within %s: %v; during the wait: %s", st.bound, last, seen.String())
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := r.settledNow(cctx, st)
		cancel()
		if err != nil {
			seen.add(now, err.Error())
		}
		switch {
		case err != nil:
			since, last = time.Time{}, err
		case since.IsZero():
			since = now
		case now.Sub(since) < settleHold:
		case writers && (r.sw.ackedSince(since) == 0 || r.uw.ackedSince(since) == 0):
			last = fmt.Errorf("ready since %s but the writers do not write: sentinel-aware %d acknowledged since (last failure %s), REDIS_URL %d (last failure %s)",
				since.Format("15:04:05.000"), r.sw.ackedSince(since), r.sw.lastFailure(), r.uw.ackedSince(since), r.uw.lastFailure())
		default:
			return since, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// reasons counts why a step was not settled yet, so that a stuck step
// tells a condition that never held from one that flapped.
type reasons struct {
	order []string
	byKey map[string]*reason
}

type reason struct {
	text        string
	n           int
	first, last time.Time
}

var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

func (rs *reasons) add(at time.Time, text string) {
	if rs.byKey == nil {
		rs.byKey = map[string]*reason{}
	}
	k := digits.ReplaceAllString(text, "N")
	r := rs.byKey[k]
	if r == nil {
		r = &reason{first: at}
		rs.byKey[k] = r
		rs.order = append(rs.order, k)
	}
	r.text, r.n, r.last = text, r.n+1, at
}

// String lists the reasons, latest last, each with its count and times.
func (rs *reasons) String() string {
	sort.SliceStable(rs.order, func(i, j int) bool { return rs.byKey[rs.order[i]].last.Before(rs.byKey[rs.order[j]].last) })
	var parts []string
	for _, k := range rs.order[max(0, len(rs.order)-6):] {
		r := rs.byKey[k]
		parts = append(parts, fmt.Sprintf("[%dx %s-%s] %s", r.n, clock(r.first), clock(r.last), r.text))
	}
	if n := len(rs.order) - 6; n > 0 {
		parts = append([]string{fmt.Sprintf("(%d older reasons)", n)}, parts...)
	}
	return strings.Join(parts, "; ")
}

// settledNow checks the RedisFailover is whole and the step's own
// conditions hold.
func (r *runner) settledNow(ctx context.Context, st *stepRun) error {
	rf, err := r.getRF(ctx)
	if err != nil {
		return err
	}
	for _, w := range st.waits {
		if err := w.fn(ctx, rf); err != nil {
			return fmt.Errorf("%s: %w", w.what, err)
		}
	}
	return r.whole(ctx, rf)
}

// whole: Ready for the current generation, every instance ready, no
// switchover or planned operation pending, every pod of the RedisFailover
// ready.
func (r *runner) whole(ctx context.Context, rf *haredisv1.RedisFailover) error {
	c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
	if !readyNow(rf) {
		if c == nil {
			return fmt.Errorf("phase %q, no Ready condition", rf.Status.Phase)
		}
		return fmt.Errorf("phase %s, Ready %s (%s: %s), generation %d observed %d", rf.Status.Phase, c.Status, c.Reason, c.Message, rf.Generation, rf.Status.ObservedGeneration)
	}
	want := rf.Spec.Redis.Replicas
	if rf.Status.ReadyInstances != want || len(rf.Status.Instances) != int(want) {
		return fmt.Errorf("%d instances in status, %d ready, want %d", len(rf.Status.Instances), rf.Status.ReadyInstances, want)
	}
	if t := rf.Status.TargetPrimary; t != "" && t != rf.Status.CurrentPrimary {
		return fmt.Errorf("switchover to %s pending (primary %s)", t, rf.Status.CurrentPrimary)
	}
	if meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionProgressing) {
		return fmt.Errorf("condition Progressing: %s", meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionProgressing).Message)
	}
	var pods corev1.PodList
	if err := r.kc.List(ctx, &pods, client.InNamespace(r.ns), client.MatchingLabels{specs.LabelInstance: r.name}); err != nil {
		return err
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		comp := p.Labels[specs.LabelComponent]
		if p.DeletionTimestamp != nil {
			if comp != specs.ComponentProxy {
				return fmt.Errorf("pod %s is being deleted", p.Name)
			}
			continue
		}
		if !podReady(&p) {
			return fmt.Errorf("pod %s not ready%s%s", p.Name, readySince(&p), r.whyNotReady(ctx, &p))
		}
		count[comp]++
	}
	wantSentinels := int(rf.Spec.Sentinel.Replicas)
	if r.pool != "" {
		sentinels, err := r.pods(ctx, specs.ComponentSentinel)
		if err != nil {
			return err
		}
		for i := range sentinels {
			if !podReady(&sentinels[i]) {
				return fmt.Errorf("pool sentinel %s not ready", sentinels[i].Name)
			}
		}
		count[specs.ComponentSentinel], wantSentinels = len(sentinels), 3
	}
	if count[specs.ComponentRedis] != int(want) || count[specs.ComponentSentinel] != wantSentinels {
		return fmt.Errorf("%d instance pods and %d sentinel pods ready, want %d and %d", count[specs.ComponentRedis], count[specs.ComponentSentinel], want, wantSentinels)
	}
	if rf.ProxyEnabled() && count[specs.ComponentProxy] < int(rf.Spec.Proxy.Replicas) {
		return fmt.Errorf("%d proxy pods ready, want %d", count[specs.ComponentProxy], rf.Spec.Proxy.Replicas)
	}
	return nil
}

// whyNotReady asks an instance's manager why it is not ready.
func (r *runner) whyNotReady(ctx context.Context, p *corev1.Pod) string {
	if p.Labels[specs.LabelComponent] != specs.ComponentRedis {
		return ""
	}
	s, err := r.instanceStatus(ctx, p)
	if err != nil {
		return fmt.Sprintf(" (its manager: %v)", err)
	}
	return fmt.Sprintf(" (its manager: phase %s, role %s, ready %v: %s)", s.Phase, s.Role, s.Ready, s.ReadyReason)
}

// readySince tells since when the pod's Ready condition has its value.
func readySince(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return fmt.Sprintf(" since %s (%s %s)", clock(c.LastTransitionTime.Time), c.Reason, c.Message)
		}
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// finish stops the writers, reads every write back a last time, and judges
// the status against the REDIS_URL writer's failures.
func (r *runner) finish(ctx context.Context) {
	if r.sw == nil {
		return
	}
	r.sw.stop()
	r.uw.stop()
	r.poll.stop()
	r.res.Writes = len(r.sw.snapshot()) + len(r.uw.snapshot())
	if n := len(r.res.Steps); n > 0 && !r.res.Steps[n-1].Stuck {
		last := &r.res.Steps[n-1]
		st := &stepRun{idx: last.Index, step: last.Step, start: last.Start, killed: map[string]bool{}}
		before := *last
		r.checkData(ctx, st, last)
		r.res.LostPlanned += last.LostPlanned - before.LostPlanned
		r.res.LostUnplanned += last.LostUnplanned - before.LostUnplanned
		last.Notes = append(last.Notes, st.notes...)
	}
	ss := r.poll.snapshot()
	excused := append([]window(nil), r.excused...)
	excused = append(excused, switchoverWindows(ss)...)
	for _, w := range findWrongStatus(r.uw.failures(), ss, excused) {
		r.res.WrongStatus++
		r.res.Violations = append(r.res.Violations, "wrong status: "+w.String())
		if i := int(w.step) - 1; i >= 0 && i < len(r.res.Steps) {
			r.res.Steps[i].Notes = append(r.res.Steps[i].Notes, "wrong status: "+w.String())
		}
	}
}

// switchoverWindows: the instants of the planned switchovers the status
// reported (lastSwitchover start to end, a second either side), in which a
// closed connection is no fault of the status.
func switchoverWindows(ss []sample) []window {
	seen := map[time.Time]bool{}
	var out []window
	for _, s := range ss {
		if s.swStart.IsZero() || seen[s.swStart] {
			continue
		}
		seen[s.swStart] = true
		end := s.swEnd
		if end.IsZero() {
			end = s.swStart.Add(30 * time.Second)
		}
		// The times are whole seconds: the window reaches a second past the
		// recorded end's next second.
		out = append(out, window{from: s.swStart.Add(-time.Second), to: end.Add(2 * time.Second), why: "switchover"})
	}
	return out
}

// cleanup heals every partition, restores the operator and removes the
// sequence's namespace.
func (r *runner) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, h := range r.heals {
		_ = h(ctx)
	}
	if r.opStopped {
		if err := r.env.ScaleOperator(ctx, 1); err != nil {
			r.logf("chaos: cleanup: %v", err)
		}
		r.opStopped = false
	}
	if r.sw != nil {
		r.sw.stop()
		r.uw.stop()
		r.poll.stop()
	}
	if r.ns == "" {
		return
	}
	if err := r.kc.Delete(ctx, r.rfKey()); client.IgnoreNotFound(err) != nil {
		r.logf("chaos: cleanup: cannot delete the RedisFailover: %v", err)
	}
	// Force the pods away so that the next sequence does not share the two
	// cores with this one's shutdown.
	_ = r.kc.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(r.ns), client.GracePeriodSeconds(0))
	if err := r.kc.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}); client.IgnoreNotFound(err) != nil {
		r.logf("chaos: cleanup: cannot delete namespace %s: %v", r.ns, err)
	}
	for {
		var pods corev1.PodList
		if err := r.kc.List(ctx, &pods, client.InNamespace(r.ns)); err == nil && len(pods.Items) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			r.logf("chaos: cleanup: the pods of %s did not go within 5 minutes", r.ns)
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sortedNames returns the names of a set in order.
func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
