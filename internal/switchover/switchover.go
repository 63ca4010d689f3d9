package switchover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redisinfo"
	"github.com/haredis/haredis/internal/sentinel"
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
	// Username and Password authenticate to the instances (the admin user
	// with ACL users; no user: the password alone); SentinelUser (a
	// SentinelPool's admin user, else none) and SentinelPassword to the
	// sentinels. Empty when auth is off.
	Username, Password, SentinelUser, SentinelPassword string
	// Timeout bounds the switchover up to Sentinel's promotion of the
	// target (default 30 s); once the target is promoted, Run waits up to
	// sentinelsWait more for the sentinels to name it before it demotes the
	// old primary. FenceTimeout bounds how long writes are held before
	// Sentinel is asked, while the replicas catch up (default 10 s); once
	// Sentinel was asked the fence stays until the outcome is known (see
	// fence.go).
	Timeout, FenceTimeout time.Duration
	// MaxLag is how far (bytes) the target may trail the primary before the
	// fence; the fence waits for the rest (default 1 MiB).
	MaxLag int64
	// TLS, when set, is the client config of every connection to the
	// instances and the sentinels (a RedisFailover with spec.tls).
	TLS *tls.Config
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
	// target accepted them (what clients resumed by Resume waited).
	Fenced time.Duration
	// FenceHeld is how long the old primary was fenced in all, until it was
	// demoted or, after an abort, unfenced: what a Sentinel-aware client
	// still writing to it waited at most. Zero when the fence was left to
	// run out by itself.
	FenceHeld time.Duration
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
	// Durability lists the instances whose min-replicas-to-write the
	// switchover lowered for its duration (see durability.go) and whether
	// each was set back. DurabilityRestored says whether all were.
	Durability []DurabilityChange
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

type run struct {
	p         Plan
	primary   *redis.Client
	target    *redis.Client
	replicas  []*redis.Client
	sentinels []*redis.SentinelClient
	log       logr.Logger
	dur       durability
}

// chosenSentinel is the sentinel asked to fail over.
type chosenSentinel struct {
	addr            string
	c               *redis.SentinelClient
	failoverTimeout time.Duration
}

// Run performs the switchover described by p. It never promotes a replica
// that lacks an acknowledged write: writes are fenced on the old primary
// before Sentinel acts, and lifted only after the old primary was demoted
// (or after an abort, when nothing was promoted and nothing can be).
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
		r.sentinels = append(r.sentinels, redis.NewSentinelClient(r.options(a, p.SentinelUser, p.SentinelPassword)))
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
	res.Durability = r.restoreAll(ctx)
	res.Total = time.Since(start)
	return res, err
}

// prepare checks that a switchover can start, lets the target catch up and
// makes it Sentinel's preferred replica. It returns the sentinel to ask.
func (r *run) prepare(ctx context.Context) (chosenSentinel, func(), error) {
	var chosen chosenSentinel
	pr, err := role(ctx, r.primary)
	if err != nil {
		return chosen, nil, fmt.Errorf("cannot ask the primary %s: %w", r.p.Primary, err)
	}
	if pr.Role != "master" {
		return chosen, nil, fmt.Errorf("%s is not a primary (ROLE says %s)", r.p.Primary, pr.Role)
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
		return chosen, nil, err
	}
	old, err := r.target.ConfigGet(ctx, "replica-priority").Result()
	if err != nil {
		return chosen, nil, fmt.Errorf("cannot read replica-priority of the target: %w", err)
	}
	oldPriority := old["replica-priority"]
	if err := r.target.ConfigSet(ctx, "replica-priority", preferredPriority).Err(); err != nil {
		return chosen, nil, fmt.Errorf("cannot prefer the target (CONFIG SET replica-priority): %w", err)
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
		_ = sentinel.Tune(ctx, s)
	}
	// Every sentinel that answers is asked, not only the one that will be
	// asked to fail over: one whose view of the target is stale would undo
	// the promotion (see errStaleView).
	err = poll(ctx, 50*time.Millisecond, func() error {
		var errs []error
		chosen = chosenSentinel{}
		for i, s := range r.sentinels {
			ft, err := r.sentinelReady(ctx, s)
			if errors.Is(err, errStaleView) {
				return fmt.Errorf("sentinel %s: %w", r.p.Sentinels[i], err)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("sentinel %s: %w", r.p.Sentinels[i], err))
				continue
			}
			if chosen.c == nil {
				chosen = chosenSentinel{addr: r.p.Sentinels[i], c: s, failoverTimeout: ft}
			}
		}
		if chosen.c == nil {
			return errors.Join(errs...)
		}
		return nil
	}, r.p.Timeout/3)
	if err != nil {
		return chosen, restore, fmt.Errorf("no sentinel is ready to promote the target: %w", err)
	}
	return chosen, restore, nil
}

// sentinelReady tells whether s monitors the primary with no failover under
// way and sees the target as a healthy replica with the preferred priority.
// It returns the sentinel's failover-timeout.
func (r *run) sentinelReady(ctx context.Context, s *redis.SentinelClient) (time.Duration, error) {
	m, err := s.Master(ctx, r.p.MasterName).Result()
	if err != nil {
		return 0, err
	}
	flags := m["flags"]
	if strings.Contains(flags, "failover_in_progress") || strings.Contains(flags, "s_down") || strings.Contains(flags, "o_down") {
		return 0, fmt.Errorf("master flags %q", flags)
	}
	if a := net.JoinHostPort(m["ip"], m["port"]); a != r.p.PrimaryAnnounced {
		return 0, fmt.Errorf("the sentinel names %s as the primary", a)
	}
	ms, err := strconv.ParseInt(m["failover-timeout"], 10, 64)
	if err != nil || ms <= 0 {
		return 0, fmt.Errorf("cannot read the sentinel's failover-timeout %q", m["failover-timeout"])
	}
	reps, err := s.Replicas(ctx, r.p.MasterName).Result()
	if err != nil {
		return 0, err
	}
	for _, rep := range reps {
		if net.JoinHostPort(rep["ip"], rep["port"]) != r.p.TargetAnnounced {
			continue
		}
		if err := targetView(rep); err != nil {
			return 0, err
		}
		if p := rep["slave-priority"]; p != preferredPriority {
			return 0, fmt.Errorf("the target's priority is still %s", p)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	return 0, fmt.Errorf("the sentinel does not know the target %s", r.p.TargetAnnounced)
}

// errStaleView: a sentinel last saw the target as a primary, or cannot reach
// it, so its view of the target's role is stale. Sentinel turns a replica
// that reports itself master back into a replica of the master it knows
// (+convert-to-slave) once its role has read "master" for four hello
// periods (8 s by default, 4 s as haredis tunes the sentinels): the grace
// that lets a new configuration arrive first runs from the moment the
// sentinel saw the role change. A sentinel whose last word from the target
// is from when the target was a primary (it was demoted, then restarted
// while this sentinel could not reach it) skips that grace: the first INFO
// it gets after the promotion makes it demote the new primary at once, and
// the writes the new primary took are lost when it resynchronises. Such a
// view ends when the sentinel reaches the target again (a reconnection
// sends INFO at once); until then no switchover starts.
var errStaleView = errors.New("stale view of the target")

// targetView judges one sentinel's entry for the target (from SENTINEL
// REPLICAS): nil when the sentinel sees it as a healthy replica, one it has
// heard from since it became one; errStaleView when promoting it could make
// this sentinel demote it again; another error when it merely cannot be
// promoted yet.
func targetView(rep map[string]string) error {
	flags := rep["flags"]
	if rep["role-reported"] != "slave" {
		return fmt.Errorf("%w: the sentinel last heard the target report itself %s (flags %s)", errStaleView, rep["role-reported"], flags)
	}
	for _, f := range strings.Split(flags, ",") {
		switch f {
		case "s_down", "o_down", "disconnected":
			return fmt.Errorf("%w: the sentinel cannot reach the target (flags %s)", errStaleView, flags)
		}
	}
	if flags != "slave" {
		return fmt.Errorf("the target's flags are %q", flags)
	}
	return nil
}

func (r *run) options(addr, user, password string) *redis.Options {
	o := &redis.Options{Addr: addr, Username: user, Password: password, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 2,
		Protocol: 2, DisableIdentity: true}
	o.TLSConfig = r.p.TLS
	if r.p.Dial != nil {
		o.Dialer = r.p.Dial
		if r.p.TLS != nil {
			// go-redis applies TLSConfig only in its own dialer.
			o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := r.p.Dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				tc := tls.Client(c, r.p.TLS)
				if err := tc.HandshakeContext(ctx); err != nil {
					c.Close()
					return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
				}
				return tc, nil
			}
		}
	}
	return o
}

func (r *run) redis(addr string) *redis.Client {
	return redis.NewClient(r.options(addr, r.p.Username, r.p.Password))
}

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
