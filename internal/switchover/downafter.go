package switchover

import (
	"context"
	"strconv"
	"time"
)

// holdDownAfter raises every sentinel's down-after for the master to hold
// while the switchover's fence may hold. CLIENT PAUSE WRITE also holds the
// PUBLISH of the sentinels' hello messages on the old primary, and the
// PINGs a sentinel sends behind it on the same link go unanswered: past
// its down-after a sentinel would count the fenced primary down and fail
// it over itself, to a replica of its own choice and with a newer epoch
// than the requested failover, discarding what the target took meanwhile.
// It returns what puts every sentinel's own value back; a sentinel that
// does not answer keeps its value (and the operator puts back any value
// left raised by a switchover that did not end).
func (r *run) holdDownAfter(ctx context.Context, hold time.Duration) func() {
	type held struct {
		i   int
		was string
	}
	var done []held
	for i, s := range r.sentinels {
		m, err := s.Master(ctx, r.p.MasterName).Result()
		if err != nil || m["down-after-milliseconds"] == "" {
			r.log.Info("cannot read a sentinel's down-after; it keeps it during the switchover", "sentinel", r.p.Sentinels[i], "error", errString(err))
			continue
		}
		if err := s.Set(ctx, r.p.MasterName, "down-after-milliseconds", strconv.FormatInt(hold.Milliseconds(), 10)).Err(); err != nil {
			r.log.Info("cannot raise a sentinel's down-after; it keeps it during the switchover", "sentinel", r.p.Sentinels[i], "error", err.Error())
			continue
		}
		done = append(done, held{i, m["down-after-milliseconds"]})
	}
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, h := range done {
			if err := r.sentinels[h.i].Set(cctx, r.p.MasterName, "down-after-milliseconds", h.was).Err(); err != nil {
				r.log.Info("cannot restore a sentinel's down-after; the operator puts it back", "sentinel", r.p.Sentinels[h.i], "error", err.Error())
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
