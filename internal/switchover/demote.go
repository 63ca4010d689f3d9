package switchover

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/haredis/haredis/internal/quorum"

	"github.com/redis/go-redis/v9"
)

// sentinelsWait bounds, after the promotion, the wait for the sentinels to
// name the target before the old primary is demoted anyway.
const sentinelsWait = 10 * time.Second

// laggardGrace is how long, once a majority of the sentinels name the
// target, the old primary stays fenced for the others to follow: a
// Sentinel-aware client asks, and listens to, whichever sentinel it reached
// first, and on a demoted primary it would get READONLY until that one
// switches. The sentinel that ran the failover is usually the last: it
// names the target in SENTINEL MASTER only once it has seen every other
// replica follow it (its INFO of them comes every second).
const laggardGrace = 3 * time.Second

// clientSettle is how long the old primary stays fenced after the last
// sentinel switched: a client that asked that sentinel a moment before may
// still be dialling the old primary, and its write is better held there
// (and its connection closed by the demotion) than answered READONLY.
const clientSettle = 200 * time.Millisecond

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

// awaitSentinels waits until every sentinel that answers names the target
// in SENTINEL MASTER (a majority at least; the others get laggardGrace
// more), then clientSettle. SENTINEL MASTER rather than
// GET-MASTER-ADDR-BY-NAME: the sentinel that promotes answers the latter
// with the target as soon as the promotion is seen, but the former (which
// clients such as redis-py ask) only once its failover ends. It reports
// whether a majority named the target.
func (r *run) awaitSentinels(ctx context.Context) bool {
	wctx, cancel := context.WithTimeout(ctx, sentinelsWait)
	defer cancel()
	start := time.Now()
	var majorityAt time.Time
	err := poll(wctx, 10*time.Millisecond, func() error {
		named, answered := 0, 0
		for _, s := range r.sentinels {
			addr, _, err := r.sentinelView(wctx, s)
			if err != nil {
				continue
			}
			answered++
			if addr == r.p.TargetAnnounced {
				named++
			}
		}
		if !quorum.Reached(named, len(r.sentinels)) {
			return fmt.Errorf("%d of %d sentinels name the target", named, len(r.sentinels))
		}
		if majorityAt.IsZero() {
			majorityAt = time.Now()
		}
		if named < answered && time.Since(majorityAt) < laggardGrace {
			return fmt.Errorf("%d of %d answering sentinels name the target; waiting for the others", named, answered)
		}
		return nil
	}, sentinelsWait)
	if err != nil {
		r.log.Info("the sentinels have not all switched; demoting the old primary anyway", "reason", err.Error(), "waited", time.Since(start).String())
		return !majorityAt.IsZero()
	}
	r.log.Info("the sentinels name the new primary", "majorityAfter", majorityAt.Sub(start).String(), "allAfter", time.Since(start).String())
	select {
	case <-ctx.Done():
	case <-time.After(clientSettle):
	}
	return true
}

// demoteOldPrimary makes the old primary a replica of the target and closes
// its clients' connections as Sentinel would, in one transaction: a client
// whose write was held sees its connection close and asks its sentinel
// again; none gets READONLY for a write it sent before. Then it sets the old
// primary's min-replicas-to-write back and lifts the fence. It reports
// whether the old primary was demoted; when it was not, the fence stays
// until Sentinel demotes it or the lease runs out.
func (r *run) demoteOldPrimary(ctx context.Context, f *fence) bool {
	f.stopRenewing()
	host, port, err := net.SplitHostPort(r.p.TargetAnnounced)
	if err != nil {
		r.log.Info("cannot split the target's address; Sentinel will demote the old primary", "error", err.Error())
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// One connection for all: CLIENT KILL TYPE normal spares only the
	// connection that sends it.
	conn := r.primary.Conn()
	defer conn.Close()
	_, err = conn.TxPipelined(cctx, func(pipe redis.Pipeliner) error {
		pipe.Do(cctx, "REPLICAOF", host, port)
		pipe.Do(cctx, "CLIENT", "KILL", "TYPE", "normal")
		return nil
	})
	if err != nil {
		// The reply may be lost although it ran: ask.
		if pr, rerr := role(cctx, r.primary); rerr != nil || pr.Role != "slave" {
			r.log.Info("cannot demote the old primary; it stays fenced until Sentinel demotes it", "lease", f.currentLease().String(), "error", err.Error())
			return false
		}
	}
	r.liftFence(cctx, conn, f)
	return true
}

// liftFence sets the old primary's min-replicas-to-write back, then lifts
// the fence, on conn: an old primary that is still primary (after an abort)
// never takes writes unfenced with the lowered setting unless it cannot be
// set back, which Result.Durability then reports. It reports whether the
// fence was lifted (else it runs out by itself).
func (r *run) liftFence(ctx context.Context, conn *redis.Conn, f *fence) bool {
	if restore := r.primaryRestoreArgs(); restore != nil {
		if err := conn.Do(ctx, restore...).Err(); err != nil {
			r.log.Info("cannot restore min-replicas-to-write of the old primary", "error", err.Error())
		} else {
			r.markRestored(r.p.Primary)
		}
	}
	if err := conn.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		r.log.Info("cannot lift the fence; it ends by itself", "within", f.currentLease().String(), "error", err.Error())
		return false
	}
	return true
}
