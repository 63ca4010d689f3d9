package switchover

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redisinfo"
)

// Why a switchover lowers min-replicas-to-write for a while.
//
// Redis checks min-replicas-to-write before it holds a command for CLIENT
// PAUSE, so a paused primary answers a write NOREPLICAS at once, instead of
// holding it, as soon as it has fewer good replicas than required. The old
// primary loses the target as a replica at the promotion and the other
// replicas when they follow the new primary, while Sentinel-aware clients
// still write to it until their sentinel names the new primary. And the new
// primary is named by Sentinel (GET-MASTER-ADDR-BY-NAME of the sentinel that
// promoted it answers with it from the RECONF_SLAVES state on) before any
// replica has attached to it: a client that asks then gets NOREPLICAS from
// the new primary. Attaching the other replicas to the target before the
// promotion does not help: a replica that is promoted drops its own
// replicas (they must learn its new replication ID) and they come back only
// at their next replication cron, up to a second later.
//
// So both are set to 0 just before SENTINEL FAILOVER, while the old primary
// is fenced and the target, a replica, takes no writes, and set back:
//
//   - on the old primary in the same transaction that demotes it (or, after
//     an abort, lifts its fence): it never runs unfenced as a primary with
//     the lowered value;
//   - on the new primary as soon as it has the good replicas the value asks
//     for (the other replicas follow it within milliseconds; when the value
//     counts the old primary too, once that one follows), and in any case
//     before Run returns.
//
// Nothing durable is given up: a write the new primary takes meanwhile is on
// it alone, but so is any write a primary acknowledges before its
// asynchronous replication sends it on; min-replicas-to-write only makes a
// primary that lost its replicas stop, and these replicas are being moved
// on purpose. Every change is reported in Result.Durability; one that could
// not be undone (the instance stopped answering) is the caller's to undo
// with RestoreDurability. If the operator dies in between, redis-server keeps
// the lowered value until it is set again or restarts (the instance manager
// renders redis.conf at every start).

// DurabilityChange is min-replicas-to-write lowered to 0 on one instance for
// the switchover.
type DurabilityChange struct {
	// Addr is the instance's dial address (Plan.Primary or Plan.Target).
	Addr string
	// MinReplicasToWrite is the value it had and is to have again.
	MinReplicasToWrite int
	// Restored is true once the value was set back.
	Restored bool
}

// DurabilityRestored tells whether every setting the switchover changed is
// back; when it is false, pass r.Durability to RestoreDurability.
func (r Result) DurabilityRestored() bool {
	for _, d := range r.Durability {
		if !d.Restored {
			return false
		}
	}
	return true
}

// RestoreDurability sets min-replicas-to-write back on every instance of
// changes that is not Restored, dialling as p says (Dial, Password). It
// marks those it restored and returns an error naming the others.
func RestoreDurability(ctx context.Context, p Plan, changes []DurabilityChange) error {
	r := &run{p: p}
	var errs []error
	for i := range changes {
		if changes[i].Restored {
			continue
		}
		c := r.redis(changes[i].Addr)
		err := setMinReplicasToWrite(ctx, c, changes[i].MinReplicasToWrite)
		_ = c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", changes[i].Addr, err))
			continue
		}
		changes[i].Restored = true
	}
	return errors.Join(errs...)
}

func setMinReplicasToWrite(ctx context.Context, c *redis.Client, n int) error {
	if err := c.ConfigSet(ctx, "min-replicas-to-write", strconv.Itoa(n)).Err(); err != nil {
		return fmt.Errorf("cannot set min-replicas-to-write to %d: %w", n, err)
	}
	return nil
}

// durability is what a run changed.
type durability struct {
	changes []DurabilityChange
	// targetMaxLag is the target's min-replicas-max-lag (seconds): a replica
	// is good when it acknowledged within it.
	targetMaxLag int64
}

func (d *durability) change(addr string) *DurabilityChange {
	for i := range d.changes {
		if d.changes[i].Addr == addr {
			return &d.changes[i]
		}
	}
	return nil
}

// lowerDurability sets min-replicas-to-write to 0 on the target and on the
// old primary, recording the old values first so that a reply that is lost
// still gets them restored.
func (r *run) lowerDurability(ctx context.Context) error {
	for _, x := range []struct {
		addr string
		c    *redis.Client
	}{{r.p.Target, r.target}, {r.p.Primary, r.primary}} {
		v, err := x.c.ConfigGet(ctx, "min-replicas-*").Result()
		if err != nil {
			return fmt.Errorf("cannot read min-replicas-to-write of %s: %w", x.addr, err)
		}
		n, err := strconv.Atoi(v["min-replicas-to-write"])
		if err != nil {
			return fmt.Errorf("cannot read min-replicas-to-write of %s: %q", x.addr, v["min-replicas-to-write"])
		}
		if x.c == r.target {
			r.dur.targetMaxLag, _ = strconv.ParseInt(v["min-replicas-max-lag"], 10, 64)
		}
		if n == 0 {
			continue
		}
		r.dur.changes = append(r.dur.changes, DurabilityChange{Addr: x.addr, MinReplicasToWrite: n})
		if err := setMinReplicasToWrite(ctx, x.c, 0); err != nil {
			return fmt.Errorf("cannot lower min-replicas-to-write of %s for the switchover: %w", x.addr, err)
		}
	}
	return nil
}

// primaryRestoreArgs returns the command that sets the old primary's
// min-replicas-to-write back, for the transaction that demotes or unfences
// it; nil when it was not changed or is back already.
func (r *run) primaryRestoreArgs() []interface{} {
	ch := r.dur.change(r.p.Primary)
	if ch == nil || ch.Restored {
		return nil
	}
	return []interface{}{"CONFIG", "SET", "min-replicas-to-write", strconv.Itoa(ch.MinReplicasToWrite)}
}

func (r *run) markRestored(addr string) {
	if ch := r.dur.change(addr); ch != nil {
		ch.Restored = true
	}
}

// restoreTarget sets the target's min-replicas-to-write back once it has
// that many good replicas, waiting up to within; with force it sets it back
// after within in any case (the new primary then refuses writes until
// enough replicas follow it, as its durability setting asks).
func (r *run) restoreTarget(ctx context.Context, within time.Duration, force bool) {
	ch := r.dur.change(r.p.Target)
	if ch == nil || ch.Restored {
		return
	}
	err := poll(ctx, 2*time.Millisecond, func() error {
		n, err := r.goodReplicas(ctx)
		if err != nil {
			return err
		}
		if n < ch.MinReplicasToWrite {
			return fmt.Errorf("%d good replicas, min-replicas-to-write %d", n, ch.MinReplicasToWrite)
		}
		return nil
	}, within)
	if err != nil && !force {
		return
	}
	if err != nil {
		r.log.Info("restoring min-replicas-to-write of the new primary before it has enough replicas", "reason", err.Error())
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := setMinReplicasToWrite(cctx, r.target, ch.MinReplicasToWrite); err != nil {
		r.log.Info("cannot restore min-replicas-to-write of the new primary", "error", err.Error())
		return
	}
	ch.Restored = true
}

// goodReplicas counts the target's replicas that Redis counts for
// min-replicas-to-write: online, acknowledged within min-replicas-max-lag.
// INFO says it only while min-replicas-to-write is not 0.
func (r *run) goodReplicas(ctx context.Context) (int, error) {
	info, err := r.target.Info(ctx, "replication").Result()
	if err != nil {
		return 0, err
	}
	repl, err := redisinfo.ParseInfo(info).Replication()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range repl.Replicas {
		if l.State == "online" && l.Lag <= r.dur.targetMaxLag {
			n++
		}
	}
	return n, nil
}

// restoreAll sets back whatever is still lowered; Run calls it last, on
// every path.
func (r *run) restoreAll(ctx context.Context) []DurabilityChange {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := RestoreDurability(cctx, r.p, r.dur.changes); err != nil {
		r.log.Info("cannot restore min-replicas-to-write; the caller must", "error", err.Error())
	}
	return r.dur.changes
}
