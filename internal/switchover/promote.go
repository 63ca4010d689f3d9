package switchover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// fenceAndPromote holds writes on the primary, waits until the replicas have
// everything, asks Sentinel to fail over, waits for the target to be master
// and hands over to demoteOldPrimary. Meanwhile no sentinel may count the
// fenced primary down on its own (holdDownAfter).
func (r *run) fenceAndPromote(ctx context.Context, sc chosenSentinel) (Result, error) {
	var res Result
	defer r.holdDownAfter(ctx, promotionLease(sc.failoverTimeout))()
	if err := r.p.Pause(ctx); err != nil {
		r.p.Resume(context.WithoutCancel(ctx), r.p.PrimaryAnnounced)
		return res, fmt.Errorf("%w: cannot pause clients: %w", ErrNotStarted, err)
	}
	fc := redis.NewClient(r.fenceOptions())
	defer fc.Close()
	f, err := startFence(ctx, fc, fenceLease, r.log)
	if err != nil {
		r.p.Resume(context.WithoutCancel(ctx), r.p.PrimaryAnnounced)
		return res, fmt.Errorf("%w: cannot fence writes on the primary: %w", ErrNotStarted, err)
	}
	defer f.stopRenewing()
	fenced := time.Now()
	abort := func(why error) (Result, error) {
		res.Fenced = time.Since(fenced)
		if r.unfence(ctx, f) {
			res.FenceHeld = time.Since(fenced)
		}
		r.p.Resume(context.WithoutCancel(ctx), r.p.PrimaryAnnounced)
		return res, fmt.Errorf("%w: %w", ErrAborted, why)
	}

	fctx, cancel := context.WithTimeout(ctx, r.p.FenceTimeout)
	defer cancel()
	if _, err := r.catchUp(fctx, r.p.FenceTimeout); err != nil {
		return abort(err)
	}
	// From the moment SENTINEL FAILOVER is sent, Sentinel may promote the
	// target: the fence must then outlive this process until Sentinel has
	// certainly promoted it or given up (fence.go).
	if err := f.extend(ctx, promotionLease(sc.failoverTimeout)); err != nil {
		return abort(fmt.Errorf("cannot hold the fence for Sentinel's promotion: %w", err))
	}
	// Had a renewal come late, writes taken meanwhile are past the offset
	// read above: read it again now that the fence certainly holds.
	if res.FenceOffset, err = r.catchUp(ctx, time.Second); err != nil {
		return abort(err)
	}
	if err := r.lowerDurability(ctx); err != nil {
		return abort(err)
	}

	started, err := r.sentinelFailover(ctx, sc, f)
	if !started {
		return abort(err)
	}
	promoted, err := r.awaitOutcome(ctx, sc)
	switch {
	case promoted:
	case errors.Is(err, errGaveUp):
		return abort(err)
	default:
		// Sentinel promoted another replica (it has every acknowledged write
		// too), or nobody can tell yet. The fence stays for its lease, so
		// that the old primary takes no write its successor would lack;
		// Sentinel demotes the old primary, clients follow Sentinel.
		res.Fenced = time.Since(fenced)
		r.log.Info("leaving the outcome to Sentinel; the old primary stays fenced until Sentinel demotes it or the fence runs out", "lease", f.currentLease().String())
		r.p.Resume(context.WithoutCancel(ctx), "")
		return res, fmt.Errorf("the target was not promoted and the outcome is Sentinel's to report: %w", err)
	}

	// The target is promoted: what is left is bounded on its own, not by
	// the switchover's timeout, which a slow promotion may have used up.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sentinelsWait+15*time.Second)
	defer cancel()
	// The other replicas follow the new primary at once, as Sentinel is
	// about to tell them: its min-replicas-to-write is then back within
	// milliseconds.
	r.followTarget(pctx)
	res.Fenced = time.Since(fenced)
	r.p.Resume(pctx, r.p.TargetAnnounced)
	r.log.Info("target promoted", "fenced", res.Fenced.String(), "offset", res.FenceOffset)
	// While the sentinels switch: when the other replicas are enough for
	// the new primary's min-replicas-to-write, set it back as soon as they
	// follow; otherwise (it counts the old primary too) after the demotion.
	early := make(chan struct{})
	go func() {
		defer close(early)
		if ch := r.dur.change(r.p.Target); ch != nil && ch.MinReplicasToWrite <= len(r.replicas) {
			r.restoreTarget(pctx, 2*time.Second, false)
		}
	}()
	res.SentinelsSwitched = r.awaitSentinels(pctx)
	res.OldPrimaryDemoted = r.demoteOldPrimary(pctx, f)
	if res.OldPrimaryDemoted {
		res.FenceHeld = time.Since(fenced)
	}
	<-early
	r.restoreTarget(pctx, 5*time.Second, true)
	return res, nil
}

// fenceOptions are those of the fence's own client: a single connection,
// so that renewals never wait behind other commands.
func (r *run) fenceOptions() *redis.Options {
	o := r.options(r.p.Primary, r.p.Username, r.p.Password)
	o.PoolSize = 1
	return o
}

// catchUp reads the primary's offset and waits until the target (within)
// and every other replica have it: whichever replica Sentinel promotes then
// has every acknowledged write.
func (r *run) catchUp(ctx context.Context, within time.Duration) (int64, error) {
	pr, err := role(ctx, r.primary)
	if err != nil {
		return 0, fmt.Errorf("cannot read the primary's offset: %w", err)
	}
	caughtUp := func(c *redis.Client) func() error {
		return func() error {
			rr, err := role(ctx, c)
			if err != nil {
				return err
			}
			if rr.Offset < pr.Offset {
				return fmt.Errorf("at offset %d of %d", rr.Offset, pr.Offset)
			}
			return nil
		}
	}
	if err := poll(ctx, time.Millisecond, caughtUp(r.target), within); err != nil {
		return 0, fmt.Errorf("the target did not catch up with the fenced primary: %w", err)
	}
	for i, c := range r.replicas {
		if err := poll(ctx, time.Millisecond, caughtUp(c), 200*time.Millisecond); err != nil {
			return 0, fmt.Errorf("replica %s did not catch up with the fenced primary: %w", r.p.Replicas[i], err)
		}
	}
	return pr.Offset, nil
}

// unfence lifts the fence after an abort (see liftFence).
func (r *run) unfence(ctx context.Context, f *fence) bool {
	f.stopRenewing()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	conn := r.primary.Conn()
	defer conn.Close()
	return r.liftFence(cctx, conn, f)
}

// Outcomes of one SENTINEL FAILOVER.
type askOutcome int

const (
	// askRefused: a clear error reply; the sentinel started nothing.
	askRefused askOutcome = iota
	// askStarted: OK, or INPROG (a failover is under way already, which may
	// promote a replica just as well).
	askStarted
	// askUncertain: no reply (timeout, broken connection): the command may
	// or may not have run.
	askUncertain
)

// sentinelFailover asks sc, and after a clear refusal the other ready
// sentinels, to fail over. After an uncertain reply it never asks again: a
// second SENTINEL FAILOVER could start a second failover; it finds out from
// the sentinels instead. It reports whether a failover may have started.
func (r *run) sentinelFailover(ctx context.Context, sc chosenSentinel, f *fence) (bool, error) {
	var errs []error
	candidates := append([]chosenSentinel{sc}, r.otherSentinels(sc)...)
	for i, s := range candidates {
		if i > 0 {
			ft, err := r.sentinelReady(ctx, s.c)
			if err != nil {
				errs = append(errs, fmt.Errorf("sentinel %s: %w", s.addr, err))
				continue
			}
			// The fence must cover this sentinel's promotion window too.
			if lease := promotionLease(ft); lease > f.currentLease() {
				if err := f.extend(ctx, lease); err != nil {
					errs = append(errs, fmt.Errorf("sentinel %s: cannot hold the fence for its failover-timeout: %w", s.addr, err))
					continue
				}
			}
		}
		outcome, id, err := r.askFailover(ctx, s.addr)
		switch outcome {
		case askStarted:
			return true, nil
		case askRefused:
			errs = append(errs, fmt.Errorf("sentinel %s: %w", s.addr, err))
			continue
		}
		r.log.Info("no clear reply to SENTINEL FAILOVER; asking the sentinels whether it started", "sentinel", s.addr, "error", err.Error())
		started, rerr := r.resolve(ctx, s, id)
		if rerr != nil {
			// Nobody can tell: the failover may be under way.
			return true, fmt.Errorf("no reply to SENTINEL FAILOVER (%w) and the sentinels cannot tell whether it started: %w", err, rerr)
		}
		if !started {
			return false, fmt.Errorf("no reply to SENTINEL FAILOVER from %s (%w), and it did not start", s.addr, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("no sentinel accepted SENTINEL FAILOVER: %w", errors.Join(errs...))
}

func (r *run) otherSentinels(sc chosenSentinel) []chosenSentinel {
	var out []chosenSentinel
	for i, s := range r.sentinels {
		if r.p.Sentinels[i] != sc.addr {
			out = append(out, chosenSentinel{addr: r.p.Sentinels[i], c: s})
		}
	}
	return out
}

// askFailover sends SENTINEL FAILOVER on a connection of its own and
// returns that connection's id, so that, when the reply is lost, the
// connection can be closed on the sentinel's side before anyone looks.
func (r *run) askFailover(ctx context.Context, addr string) (askOutcome, int64, error) {
	c := redis.NewClient(r.options(addr, r.p.SentinelUser, r.p.SentinelPassword))
	defer c.Close()
	conn := c.Conn()
	defer conn.Close()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		// SENTINEL FAILOVER was not sent.
		return askRefused, 0, fmt.Errorf("cannot ask the sentinel: %w", err)
	}
	err = conn.Do(ctx, "SENTINEL", "FAILOVER", r.p.MasterName).Err()
	var re redis.Error
	switch {
	case err == nil:
		return askStarted, id, nil
	case errors.As(err, &re) && strings.HasPrefix(err.Error(), "INPROG"):
		r.log.Info("a failover is under way already; waiting for its outcome", "sentinel", addr)
		return askStarted, id, nil
	case errors.As(err, &re):
		return askRefused, id, err
	default:
		return askUncertain, id, err
	}
}

// resolve finds out whether a SENTINEL FAILOVER whose reply was lost
// started a failover. First the sentinel closes the connection that sent
// it (CLIENT KILL ID): Sentinel runs one command at a time, so afterwards
// the command has either run or never will. Then, any of: the target
// reports itself master, a sentinel names another primary, or a sentinel
// has a failover in progress, means it started; the sentinel that was asked
// naming the old primary with no failover in progress means it did not (a
// forced failover sets failover_in_progress before it replies, and keeps it
// until the promotion or until it gives up). It returns an error when it
// cannot tell before ctx ends; the fence stays meanwhile.
func (r *run) resolve(ctx context.Context, sc chosenSentinel, id int64) (bool, error) {
	killer := redis.NewSentinelClient(r.options(sc.addr, r.p.SentinelUser, r.p.SentinelPassword))
	defer killer.Close()
	barrier := false
	started := false
	err := poll(ctx, 50*time.Millisecond, func() error {
		if !barrier {
			if err := killer.Process(ctx, redis.NewIntCmd(ctx, "CLIENT", "KILL", "ID", id)); err != nil {
				return fmt.Errorf("cannot close the connection that sent SENTINEL FAILOVER: %w", err)
			}
			barrier = true
		}
		if tr, err := role(ctx, r.target); err == nil && tr.Role == "master" {
			started = true
			return nil
		}
		var askedErr error = errors.New("not asked yet")
		for i, s := range r.sentinels {
			addr, inProgress, err := r.sentinelView(ctx, s)
			if r.p.Sentinels[i] == sc.addr {
				askedErr = err
			}
			if err != nil {
				continue
			}
			if inProgress || addr != r.p.PrimaryAnnounced {
				started = true
				return nil
			}
		}
		if askedErr != nil {
			return fmt.Errorf("sentinel %s: %w", sc.addr, askedErr)
		}
		return nil
	}, time.Until(deadlineOf(ctx)))
	return started, err
}

// sentinelView returns the primary s names in SENTINEL MASTER (what
// clients that ask SENTINEL MASTER(S) are given; GET-MASTER-ADDR-BY-NAME
// names the promoted replica earlier) and whether it has a failover in
// progress.
func (r *run) sentinelView(ctx context.Context, s *redis.SentinelClient) (string, bool, error) {
	m, err := s.Master(ctx, r.p.MasterName).Result()
	if err != nil {
		return "", false, err
	}
	return net.JoinHostPort(m["ip"], m["port"]), strings.Contains(m["flags"], "failover_in_progress"), nil
}

// errGaveUp: Sentinel ended its failover without promoting anything.
var errGaveUp = errors.New("no promotion")

// awaitOutcome waits, once a failover may have started, until the target
// reports itself master (true), or no sentinel has a failover in progress
// and every one that answers, the one that was asked among them, names the
// old primary: Sentinel gave up, nothing was promoted and nothing will be
// (errGaveUp; a forced failover shows only on the sentinel that runs it,
// which sets failover_in_progress before it replies and clears it only after
// the promotion or once it gives up). A sentinel naming another primary, or
// no answer before ctx ends, is left to Sentinel (another error). The fence
// stays meanwhile: lifting it while a promotion may still come would let
// the old primary acknowledge writes the new one never gets.
func (r *run) awaitOutcome(ctx context.Context, sc chosenSentinel) (bool, error) {
	promoted := false
	var gaveUp, other error
	err := poll(ctx, 2*time.Millisecond, func() error {
		tr, terr := role(ctx, r.target)
		if terr == nil && tr.Role == "master" {
			promoted = true
			return nil
		}
		askedAnswered, namesTarget := false, false
		for i, s := range r.sentinels {
			addr, inProgress, err := r.sentinelView(ctx, s)
			switch {
			case err != nil:
				continue
			case inProgress:
				return fmt.Errorf("sentinel %s has a failover under way", r.p.Sentinels[i])
			case addr == r.p.TargetAnnounced:
				namesTarget = true
			case addr != r.p.PrimaryAnnounced:
				other = fmt.Errorf("sentinel %s names %s as the primary, not the target", r.p.Sentinels[i], addr)
				return nil
			}
			askedAnswered = askedAnswered || r.p.Sentinels[i] == sc.addr
		}
		switch {
		case namesTarget && terr != nil:
			return fmt.Errorf("the sentinels name the target, which does not answer: %w", terr)
		case namesTarget:
			return fmt.Errorf("the sentinels name the target, which is still a %s", tr.Role)
		case !askedAnswered:
			return fmt.Errorf("sentinel %s, which was asked to fail over, does not answer", sc.addr)
		}
		gaveUp = fmt.Errorf("%w: the sentinels ended the failover without promoting the target", errGaveUp)
		return nil
	}, time.Until(deadlineOf(ctx)))
	switch {
	case promoted:
		return true, nil
	case gaveUp != nil:
		return false, gaveUp
	case other != nil:
		return false, other
	}
	return false, fmt.Errorf("no outcome before the switchover's timeout: %w", err)
}

// deadlineOf is ctx's deadline (Run always sets one).
func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Minute)
}
