package switchover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redisinfo"
)

// Plan says what to switch over and how to reach everything.
type Plan struct {
	// MasterName is the name the sentinels monitor.
	MasterName string
	// Primary and Target are the addresses this process dials to reach the
	// old primary and the replica to promote.
	Primary, Target string
	// PrimaryAnnounced and TargetAnnounced are host:port under which the
	// sentinels and the other instances know them (their stable DNS names
	// in a cluster).
	PrimaryAnnounced, TargetAnnounced string
	// Replicas are the dial addresses of the other replicas. They must have
	// every fenced write too, so that whichever replica Sentinel promotes
	// holds every acknowledged write.
	Replicas []string
	// Sentinels are the dial addresses of the sentinels.
	Sentinels []string
	// Password of Redis and of the sentinels; empty when auth is off.
	Password, SentinelPassword string
	// Timeout bounds the whole switchover (default 30 s). The write fence
	// never lasts longer than FenceTimeout (default 10 s).
	Timeout, FenceTimeout time.Duration
	// MaxLag is how far (bytes) the target may trail the primary before the
	// fence; the fence waits for the rest (default 1 MiB).
	MaxLag int64
	// Dial, when set, dials every connection (tests reaching a network
	// namespace).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Log  logr.Logger

	// Pause runs just before the primary is fenced (for example: proxies
	// hold new commands). An error aborts before anything was fenced.
	Pause func(ctx context.Context) error
	// Resume runs once clients may go on: with the announced address of the
	// new primary on success, with the old primary's after an abort, and
	// with "" when Sentinel is left to say (clients follow Sentinel).
	Resume func(ctx context.Context, primary string)
}

// Result tells what happened.
type Result struct {
	// Fenced is how long writes were held on the old primary before the
	// target accepted them.
	Fenced time.Duration
	// Total is the duration of the whole switchover.
	Total time.Duration
	// FenceOffset is the old primary's replication offset at the fence:
	// every acknowledged write is at or below it, and the target had it
	// before it was promoted.
	FenceOffset int64
	// OldPrimaryDemoted is true when the old primary reported itself a
	// replica before Run returned (Sentinel converts it later otherwise).
	OldPrimaryDemoted bool
	// SentinelsSwitched is true when a majority of the sentinels named the
	// new primary before Run returned.
	SentinelsSwitched bool
}

// Errors. A switchover that fails with ErrNotStarted or ErrAborted left the
// old primary serving; the wrapped error says why.
var (
	ErrNotStarted = errors.New("switchover not started")
	ErrAborted    = errors.New("switchover aborted, the old primary keeps serving")
)

// preferredPriority is the replica-priority given to the target so that
// Sentinel picks it (lower wins; 0 would mean never).
const preferredPriority = "1"

// TuneSentinel sets the Sentinel timing parameters haredis relies on with
// SENTINEL DEBUG (Redis 7.0 and later):
//   - INFO every second instead of every 10 s, so that a changed
//     replica-priority or role is seen within a second;
//   - hello messages every 200 ms instead of 2 s, so that every sentinel
//     (and the clients subscribed to it) learns a new primary within a
//     fraction of a second of the one that promoted it;
//   - PING (and reconnection) every 400 ms instead of every second. After
//     +switch-master a sentinel drops its link to the old address and
//     restarts the new primary's down-after clock at once, but reconnects
//     no sooner than one ping period after its last attempt. With the
//     default period and down-after of a second, a sentinel that was
//     retrying the dead old primary could count the new one down before it
//     even dialled it, and start a second, needless failover (seen in tests
//     on Redis 7.0). It also notices a silent primary up to 0.6 s sooner.
//
// The ping period also decides whether Sentinel finds a replica to promote,
// which is why it is not lower. While the primary is down (objectively, or
// as the replica reports its link), Sentinel asks each replica for INFO
// once a second whatever info-period says, on the first timer tick (10 to
// 19 a second) after the last answer is a second old, and
// sentinelSelectSlave skips a replica whose last INFO is older than five
// ping periods (info_validity_time), or whose last PING reply is.
// At 200 ms that limit was the same second: for a tick and a round trip in
// every second each replica was too old to promote, all of them at once
// since they are asked in the same tick, and a failover that chose a
// replica then aborted with -failover-abort-no-good-slave; Sentinel tries
// again only after twice the failover timeout (60 s by default). At 400 ms
// the limit is 2 s: the oldest INFO measured is about 1.1 s, and a sentinel
// stalled long enough to exceed the limit is close to its tilt mode (2 s)
// anyway. A down-after much below a second would want a shorter period for
// the reconnection above; the choice of a replica wins, since losing it
// costs a minute.
//
// Sentinels that do not know SENTINEL DEBUG keep their defaults:
// switchovers then prepare for up to 10 s longer.
func TuneSentinel(ctx context.Context, s *redis.SentinelClient) error {
	return s.Process(ctx, redis.NewStatusCmd(ctx, "SENTINEL", "DEBUG", "info-period", "1000", "publish-period", "200", "ping-period", "400"))
}

type run struct {
	p         Plan
	primary   *redis.Client
	target    *redis.Client
	replicas  []*redis.Client
	sentinels []*redis.SentinelClient
	log       logr.Logger
}

// Run performs the switchover described by p. It never promotes a replica
// that lacks an acknowledged write: writes are fenced on the old primary
// before Sentinel acts, and lifted only after the primary changed (or after
// an abort, when nothing was promoted).
func Run(ctx context.Context, p Plan) (Result, error) {
	start := time.Now()
	if p.Timeout <= 0 {
		p.Timeout = 30 * time.Second
	}
	if p.FenceTimeout <= 0 {
		p.FenceTimeout = 10 * time.Second
	}
	if p.MaxLag <= 0 {
		p.MaxLag = 1 << 20
	}
	if p.Pause == nil {
		p.Pause = func(context.Context) error { return nil }
	}
	if p.Resume == nil {
		p.Resume = func(context.Context, string) {}
	}
	r := &run{p: p, log: p.Log.WithValues("target", p.Target)}
	defer r.close()
	r.primary = r.redis(p.Primary)
	r.target = r.redis(p.Target)
	for _, a := range p.Replicas {
		r.replicas = append(r.replicas, r.redis(a))
	}
	for _, a := range p.Sentinels {
		r.sentinels = append(r.sentinels, redis.NewSentinelClient(r.options(a, p.SentinelPassword)))
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()

	sc, restorePriority, err := r.prepare(ctx)
	if restorePriority != nil {
		defer restorePriority()
	}
	if err != nil {
		return Result{Total: time.Since(start)}, fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	res, err := r.fenceAndPromote(ctx, sc)
	res.Total = time.Since(start)
	return res, err
}

// prepare checks that a switchover can start, lets the target catch up and
// makes it Sentinel's preferred replica. It returns the sentinel to ask.
func (r *run) prepare(ctx context.Context) (*redis.SentinelClient, func(), error) {
	pr, err := role(ctx, r.primary)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot ask the primary %s: %w", r.p.Primary, err)
	}
	if pr.Role != "master" {
		return nil, nil, fmt.Errorf("%s is not a primary (ROLE says %s)", r.p.Primary, pr.Role)
	}
	// Let the target come close before writes are held, so the fence is short.
	var lag int64
	err = poll(ctx, 10*time.Millisecond, func() error {
		pr, err := role(ctx, r.primary)
		if err != nil {
			return err
		}
		tr, err := role(ctx, r.target)
		if err != nil {
			return fmt.Errorf("cannot ask the target: %w", err)
		}
		if tr.Role != "slave" || tr.State != "connected" {
			return fmt.Errorf("the target %s is not a connected replica (role %s, link %s)", r.p.Target, tr.Role, tr.State)
		}
		if lag = pr.Offset - tr.Offset; lag > r.p.MaxLag {
			return fmt.Errorf("the target trails the primary by %d bytes", lag)
		}
		return nil
	}, r.p.Timeout/3)
	if err != nil {
		return nil, nil, err
	}
	old, err := r.target.ConfigGet(ctx, "replica-priority").Result()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read replica-priority of the target: %w", err)
	}
	oldPriority := old["replica-priority"]
	if err := r.target.ConfigSet(ctx, "replica-priority", preferredPriority).Err(); err != nil {
		return nil, nil, fmt.Errorf("cannot prefer the target (CONFIG SET replica-priority): %w", err)
	}
	restore := func() {
		if oldPriority == "" || oldPriority == preferredPriority {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := r.target.ConfigSet(cctx, "replica-priority", oldPriority).Err(); err != nil {
			r.log.Info("cannot restore replica-priority of the target", "error", err.Error())
		}
	}
	for _, s := range r.sentinels {
		// Best effort: Sentinel reads replica-priority from INFO.
		_ = TuneSentinel(ctx, s)
	}
	var chosen *redis.SentinelClient
	err = poll(ctx, 50*time.Millisecond, func() error {
		var errs []error
		for i, s := range r.sentinels {
			if err := r.sentinelReady(ctx, s); err != nil {
				errs = append(errs, fmt.Errorf("sentinel %s: %w", r.p.Sentinels[i], err))
				continue
			}
			chosen = s
			return nil
		}
		return errors.Join(errs...)
	}, r.p.Timeout/3)
	if err != nil {
		return nil, restore, fmt.Errorf("no sentinel is ready to promote the target: %w", err)
	}
	return chosen, restore, nil
}

// sentinelReady tells whether s monitors the primary with no failover under
// way and sees the target as a healthy replica with the preferred priority.
func (r *run) sentinelReady(ctx context.Context, s *redis.SentinelClient) error {
	m, err := s.Master(ctx, r.p.MasterName).Result()
	if err != nil {
		return err
	}
	flags := m["flags"]
	if strings.Contains(flags, "failover_in_progress") || strings.Contains(flags, "s_down") || strings.Contains(flags, "o_down") {
		return fmt.Errorf("master flags %q", flags)
	}
	reps, err := s.Replicas(ctx, r.p.MasterName).Result()
	if err != nil {
		return err
	}
	for _, rep := range reps {
		if net.JoinHostPort(rep["ip"], rep["port"]) != r.p.TargetAnnounced {
			continue
		}
		if f := rep["flags"]; f != "slave" {
			return fmt.Errorf("the target's flags are %q", f)
		}
		if p := rep["slave-priority"]; p != preferredPriority {
			return fmt.Errorf("the target's priority is still %s", p)
		}
		return nil
	}
	return fmt.Errorf("the sentinel does not know the target %s", r.p.TargetAnnounced)
}

// fenceAndPromote holds writes on the primary, waits until the replicas have
// everything, asks Sentinel to fail over and waits for the target to be
// master.
func (r *run) fenceAndPromote(ctx context.Context, sc *redis.SentinelClient) (Result, error) {
	var res Result
	if err := r.p.Pause(ctx); err != nil {
		r.p.Resume(context.WithoutCancel(ctx), r.p.PrimaryAnnounced)
		return res, fmt.Errorf("%w: cannot pause clients: %w", ErrNotStarted, err)
	}
	// The fence outlives this process by FenceTimeout at most: if the
	// operator dies here, writes resume on the old primary by themselves.
	fenceMS := strconv.FormatInt(r.p.FenceTimeout.Milliseconds(), 10)
	if err := r.primary.Do(ctx, "CLIENT", "PAUSE", fenceMS, "WRITE").Err(); err != nil {
		r.p.Resume(context.WithoutCancel(ctx), r.p.PrimaryAnnounced)
		return res, fmt.Errorf("%w: cannot fence writes on the primary: %w", ErrNotStarted, err)
	}
	fenced := time.Now()
	fctx, cancel := context.WithDeadline(ctx, fenced.Add(r.p.FenceTimeout-500*time.Millisecond))
	defer cancel()
	abort := func(why error) (Result, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.primary.Do(cctx, "CLIENT", "UNPAUSE").Err(); err != nil {
			r.log.Info("cannot lift the fence; it ends by itself", "after", r.p.FenceTimeout.String(), "error", err.Error())
		}
		r.p.Resume(cctx, r.p.PrimaryAnnounced)
		res.Fenced = time.Since(fenced)
		return res, fmt.Errorf("%w: %w", ErrAborted, why)
	}

	pr, err := role(fctx, r.primary)
	if err != nil {
		return abort(fmt.Errorf("cannot read the primary's offset: %w", err))
	}
	res.FenceOffset = pr.Offset
	caughtUp := func(c *redis.Client) func() error {
		return func() error {
			rr, err := role(fctx, c)
			if err != nil {
				return err
			}
			if rr.Offset < pr.Offset {
				return fmt.Errorf("at offset %d of %d", rr.Offset, pr.Offset)
			}
			return nil
		}
	}
	if err := poll(fctx, time.Millisecond, caughtUp(r.target), r.p.FenceTimeout); err != nil {
		return abort(fmt.Errorf("the target did not catch up with the fenced primary: %w", err))
	}
	for i, c := range r.replicas {
		// A replica Sentinel might pick instead must have everything too.
		if err := poll(fctx, time.Millisecond, caughtUp(c), 200*time.Millisecond); err != nil {
			return abort(fmt.Errorf("replica %s did not catch up with the fenced primary: %w", r.p.Replicas[i], err))
		}
	}

	if err := r.sentinelFailover(fctx, sc); err != nil {
		return abort(err)
	}
	err = poll(fctx, time.Millisecond, func() error {
		tr, err := role(fctx, r.target)
		if err != nil {
			return err
		}
		if tr.Role != "master" {
			return fmt.Errorf("the target is still a %s", tr.Role)
		}
		return nil
	}, r.p.FenceTimeout)
	if err != nil {
		return r.notPromoted(ctx, sc, fenced, res, err)
	}
	// The new primary refuses writes (NOREPLICAS) until enough replicas
	// follow it: point the other replicas at it now, as Sentinel is about
	// to, and resume clients once it accepts writes. When it needs the old
	// primary as a replica too (min-replicas-to-write counts it), that one
	// follows at once as well, still fenced.
	r.followTarget(ctx)
	need := r.minReplicasToWrite(ctx)
	if need > len(r.replicas) || !r.acceptsWrites(ctx, need, time.Second) {
		r.log.Info("the new primary needs the old one as a replica to take writes; demoting it now", "minReplicasToWrite", need)
		if err := r.replicaOfTarget(ctx); err != nil {
			r.log.Info("cannot demote the old primary yet", "error", err.Error())
		}
		r.acceptsWrites(ctx, need, 3*time.Second)
	}
	res.Fenced = time.Since(fenced)
	r.p.Resume(ctx, r.p.TargetAnnounced)
	r.log.Info("target promoted", "fenced", res.Fenced.String(), "offset", res.FenceOffset)
	res.SentinelsSwitched, res.OldPrimaryDemoted = r.demoteOldPrimary(ctx, fenced.Add(r.p.FenceTimeout-time.Second))
	return res, nil
}

// followTarget makes every other replica a replica of the new primary.
func (r *run) followTarget(ctx context.Context) {
	host, port, err := net.SplitHostPort(r.p.TargetAnnounced)
	if err != nil {
		return
	}
	for i, c := range r.replicas {
		if err := c.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
			r.log.Info("cannot point a replica at the new primary; Sentinel will", "replica", r.p.Replicas[i], "error", err.Error())
		}
	}
}

// minReplicasToWrite is the target's min-replicas-to-write (0 when it
// cannot be read: then nothing is waited for).
func (r *run) minReplicasToWrite(ctx context.Context) int {
	v, err := r.target.ConfigGet(ctx, "min-replicas-to-write").Result()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(v["min-replicas-to-write"])
	return n
}

// acceptsWrites waits up to within until the target has need good
// replicas, so that it does not refuse writes with NOREPLICAS.
func (r *run) acceptsWrites(ctx context.Context, need int, within time.Duration) bool {
	if need == 0 {
		return true
	}
	err := poll(ctx, 2*time.Millisecond, func() error {
		info, err := r.target.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		repl, err := redisinfo.ParseInfo(info).Replication()
		if err != nil {
			return err
		}
		if repl.GoodReplicas < need {
			return fmt.Errorf("%d good replicas, min-replicas-to-write %d", repl.GoodReplicas, need)
		}
		return nil
	}, within)
	return err == nil
}

// sentinelFailover asks sc, then the others, for SENTINEL FAILOVER.
func (r *run) sentinelFailover(ctx context.Context, sc *redis.SentinelClient) error {
	err := sc.Failover(ctx, r.p.MasterName).Err()
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, s := range r.sentinels {
		if s == sc || r.sentinelReady(ctx, s) != nil {
			continue
		}
		if err := s.Failover(ctx, r.p.MasterName).Err(); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return fmt.Errorf("no sentinel accepted SENTINEL FAILOVER: %w", errors.Join(errs...))
}

// notPromoted handles a target that did not become master in time. The
// fence stays until Sentinel is known not to promote anything, since lifting
// it while a promotion may still come would let the old primary acknowledge
// writes the new one never gets.
func (r *run) notPromoted(ctx context.Context, sc *redis.SentinelClient, fenced time.Time, res Result, why error) (Result, error) {
	err := poll(ctx, 50*time.Millisecond, func() error {
		m, err := sc.Master(ctx, r.p.MasterName).Result()
		if err != nil {
			return err
		}
		if strings.Contains(m["flags"], "failover_in_progress") {
			return errors.New("the failover Sentinel started is still under way")
		}
		return nil
	}, r.p.Timeout)
	pr, rerr := role(ctx, r.primary)
	res.Fenced = time.Since(fenced)
	if err == nil && rerr == nil && pr.Role == "master" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.primary.Do(cctx, "CLIENT", "UNPAUSE").Err()
		r.p.Resume(cctx, r.p.PrimaryAnnounced)
		return res, fmt.Errorf("%w: Sentinel did not promote the target: %w", ErrAborted, why)
	}
	// Something else happened (Sentinel promoted another caught-up replica,
	// or cannot be asked): clients follow Sentinel; the fence ends by itself.
	r.p.Resume(context.WithoutCancel(ctx), "")
	return res, fmt.Errorf("the target was not promoted and the outcome is Sentinel's to report: %w", errors.Join(why, err, rerr))
}

// laggardGrace is how long, once a majority of the sentinels name the
// target, the old primary stays fenced for the others to follow: a
// Sentinel-aware client asks, and listens to, whichever sentinel it reached
// first, and on a demoted primary it would get READONLY until that one
// switches.
const laggardGrace = 2 * time.Second

// demoteOldPrimary keeps the old primary fenced until every sentinel that
// answers names the target (a majority at least, the rest for up to
// laggardGrace more),
// so that Sentinel-aware clients still holding a connection to it wait
// instead of failing and move when Sentinel tells them; then it makes the
// old primary a replica of the target at once (rather than at Sentinel's
// next look at it), disconnects its clients as Sentinel would, and lifts
// the fence. It reports whether the majority switched and whether the old
// primary was demoted.
func (r *run) demoteOldPrimary(ctx context.Context, deadline time.Time) (switched, demoted bool) {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var majorityAt time.Time
	err := poll(wctx, 10*time.Millisecond, func() error {
		named, answered := 0, 0
		for _, s := range r.sentinels {
			a, err := s.GetMasterAddrByName(wctx, r.p.MasterName).Result()
			if err == nil {
				answered++
			}
			if err == nil && len(a) == 2 && net.JoinHostPort(a[0], a[1]) == r.p.TargetAnnounced {
				named++
			}
		}
		if named < len(r.sentinels)/2+1 {
			return fmt.Errorf("%d of %d sentinels name the target", named, len(r.sentinels))
		}
		if majorityAt.IsZero() {
			majorityAt = time.Now()
		}
		if named < answered && time.Since(majorityAt) < laggardGrace {
			return fmt.Errorf("%d of %d answering sentinels name the target; waiting for the others", named, answered)
		}
		return nil
	}, time.Until(deadline))
	switched = !majorityAt.IsZero()
	if err != nil {
		r.log.Info("the sentinels have not all switched yet; demoting the old primary anyway", "reason", err.Error())
	}
	if err := r.replicaOfTarget(ctx); err != nil {
		r.log.Info("cannot demote the old primary; Sentinel will", "error", err.Error())
		return switched, false
	}
	_ = r.primary.Do(ctx, "CLIENT", "KILL", "TYPE", "normal").Err()
	if err := r.primary.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		r.log.Info("cannot lift the fence on the old primary; it ends by itself", "error", err.Error())
	}
	return switched, true
}

// replicaOfTarget makes the old primary a replica of the target unless it
// is one already. Its fence stays: its clients' writes wait.
func (r *run) replicaOfTarget(ctx context.Context) error {
	host, port, err := net.SplitHostPort(r.p.TargetAnnounced)
	if err != nil {
		return fmt.Errorf("cannot split the target's address: %w", err)
	}
	pr, err := role(ctx, r.primary)
	if err != nil || pr.Role != "master" {
		return err
	}
	return r.primary.Do(ctx, "REPLICAOF", host, port).Err()
}

func (r *run) options(addr, password string) *redis.Options {
	o := &redis.Options{Addr: addr, Password: password, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 2,
		Protocol: 2, DisableIdentity: true}
	if r.p.Dial != nil {
		o.Dialer = r.p.Dial
	}
	return o
}

func (r *run) redis(addr string) *redis.Client { return redis.NewClient(r.options(addr, r.p.Password)) }

func (r *run) close() {
	for _, c := range append([]*redis.Client{r.primary, r.target}, r.replicas...) {
		if c != nil {
			_ = c.Close()
		}
	}
	for _, s := range r.sentinels {
		_ = s.Close()
	}
}

func role(ctx context.Context, c *redis.Client) (redisinfo.Role, error) {
	v, err := c.Do(ctx, "ROLE").Result()
	if err != nil {
		return redisinfo.Role{}, err
	}
	return redisinfo.ParseRole(v)
}

// poll calls cond every interval until it returns nil, ctx ends or within
// passes; it returns cond's last error.
func poll(ctx context.Context, interval time.Duration, cond func() error, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}
