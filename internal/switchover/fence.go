package switchover

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
)

// The write fence on the old primary is CLIENT PAUSE WRITE held for a
// lease that this process renews for as long as the outcome of the
// switchover is open: until the old primary is demoted, or the switchover
// is aborted and the fence lifted. A renewal only ever extends the pause
// (Redis keeps the later end of two pauses of the same type), so a late or
// repeated renewal cannot shorten it. The lease says how long the fence
// outlives this process if it dies, and depends on what may still happen:
//
//   - Before SENTINEL FAILOVER is sent nothing can promote the target, so
//     the lease is short (fenceLease): if the operator dies, writes resume
//     on the old primary, which stays primary, within a couple of seconds.
//   - From the moment SENTINEL FAILOVER is sent (even when its reply is lost)
//     Sentinel may promote the target, and writes the old primary took then
//     would be lost when it is demoted. The lease becomes promotionLease:
//     Sentinel's own bound on a failover (failover-timeout to get the
//     promotion command to the target, failover-timeout for the target to
//     report itself master) plus time for the sentinels to convert the old
//     primary into a replica, which they do within seconds of the promotion
//     without any help. If the operator dies now, the old primary either
//     becomes a replica while still fenced (the failover went through) or
//     resumes writes once Sentinel has certainly given up. The cost is that
//     a failover Sentinel abandons holds writes for up to that long when no
//     operator is left to lift the fence, and that a converted old primary
//     applies its new primary's stream only once the pause ends (a paused
//     replica reads it but does not apply it).

// fenceLease is how long the fence outlives this process while nothing was
// started; it is renewed four times per lease.
var fenceLease = 2 * time.Second

// promotionMargin is added to Sentinel's promotion window in
// promotionLease: time for the sentinels to see the promotion and convert
// the old primary.
const promotionMargin = 10 * time.Second

// promotionLease is the fence's lease once SENTINEL FAILOVER was sent.
func promotionLease(failoverTimeout time.Duration) time.Duration {
	return 2*failoverTimeout + promotionMargin
}

// fence holds writes on one Redis server and renews the hold in the
// background until stopRenewing is called.
type fence struct {
	c   *redis.Client
	log logr.Logger

	mu        sync.Mutex
	lease     time.Duration
	heldUntil time.Time // the pause in force ends no sooner than this

	stop, done chan struct{}
	stopOnce   sync.Once
}

// startFence pauses writes on c for lease and keeps renewing the pause. c
// should be a client of its own, so that renewals never queue behind other
// commands, and with a single connection.
func startFence(ctx context.Context, c *redis.Client, lease time.Duration, log logr.Logger) (*fence, error) {
	f := &fence{c: c, log: log, lease: lease, stop: make(chan struct{}), done: make(chan struct{})}
	if err := f.pause(ctx, lease); err != nil {
		close(f.done)
		return nil, err
	}
	go f.renew()
	return f, nil
}

// pause sends one CLIENT PAUSE for lease.
func (f *fence) pause(ctx context.Context, lease time.Duration) error {
	sent := time.Now()
	err := f.c.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(lease.Milliseconds(), 10), "WRITE").Err()
	if err != nil {
		return fmt.Errorf("cannot pause writes (CLIENT PAUSE %s WRITE): %w", lease, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.heldUntil.IsZero() && time.Now().After(f.heldUntil) {
		// Writes may have been taken between the end of the last pause and
		// this one. Correctness does not rest on the fence never having
		// lapsed before Sentinel is asked (the offsets are checked again
		// under the promotion lease), but it is worth knowing.
		f.log.Info("the write fence was renewed late and may have lapsed for a moment", "lateBy", time.Since(f.heldUntil).String())
	}
	// Redis starts the pause when it runs the command, no sooner than it
	// was sent: sent+lease is a lower bound of its end.
	if end := sent.Add(lease); end.After(f.heldUntil) {
		f.heldUntil = end
	}
	return nil
}

// extend makes the lease longer, at once: it returns once Redis holds the
// longer pause. The renewals use the new lease from then on.
func (f *fence) extend(ctx context.Context, lease time.Duration) error {
	f.mu.Lock()
	f.lease = lease
	f.mu.Unlock()
	return f.pause(ctx, lease)
}

// renewInterval renews often enough that three renewals in a row may fail
// before the lease runs out, and at least every second.
func renewInterval(lease time.Duration) time.Duration { return min(lease/4, time.Second) }

func (f *fence) renew() {
	defer close(f.done)
	for {
		f.mu.Lock()
		lease := f.lease
		f.mu.Unlock()
		every := renewInterval(lease)
		select {
		case <-f.stop:
			return
		case <-time.After(every):
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if err := f.pause(ctx, lease); err != nil {
			f.log.Info("cannot renew the write fence; trying again", "lease", lease.String(), "error", err.Error())
		}
		cancel()
	}
}

// stopRenewing ends the renewals and waits for a renewal under way. The
// pause in force stays until it runs out or the caller lifts it; the
// caller does so on the same connection as what must happen before (a
// demotion, restoring min-replicas-to-write), in one transaction.
func (f *fence) stopRenewing() {
	f.stopOnce.Do(func() { close(f.stop) })
	<-f.done
}

// currentLease returns the lease the renewals use.
func (f *fence) currentLease() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lease
}
