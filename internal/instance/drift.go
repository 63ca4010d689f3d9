package instance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// driftEvery is how often the running server's parameters are compared
// with the group in force.
const driftEvery = 10 * time.Second

// driftState remembers what the running server reported for the group's
// parameters right after the group was applied: Redis reports its own
// canonical form (bytes for 1gb, flags in its own order), so later answers
// are compared with that snapshot, not with the group's text.
type driftState struct {
	baseline  map[string]string
	checked   time.Time
	restores  int
	last      string
	lastAt    time.Time
	invalidAt time.Time
}

// invalidateBaseline makes the next check take a new snapshot (after a
// start or a change of the group).
func (m *Manager) invalidateBaseline() {
	m.mu.Lock()
	m.drift.baseline = nil
	m.drift.invalidAt = time.Now()
	m.mu.Unlock()
}

// checkDrift puts back the group's parameters when someone changed them on
// the running server (CONFIG SET behind the operator's back): nothing but
// the operator, through this manager, changes an instance's configuration.
func (m *Manager) checkDrift(ctx context.Context) {
	m.mu.Lock()
	due := time.Since(m.drift.checked) >= driftEvery || m.drift.baseline == nil
	inForce := copyMap(m.group.InForce)
	// The manager and the switchover change replica-priority themselves.
	delete(inForce, "replica-priority")
	base := m.drift.baseline
	m.mu.Unlock()
	if !due || len(inForce) == 0 {
		return
	}
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	c, err := m.redisClient.client()
	if err != nil {
		return
	}
	keys := slices.Sorted(maps.Keys(inForce))
	args := []any{"CONFIG", "GET"}
	for _, k := range keys {
		args = append(args, k)
	}
	live, err := c.Do(ctx, args...).Result()
	if err != nil {
		return
	}
	now := pairs(live)
	m.mu.Lock()
	m.drift.checked = time.Now()
	if base == nil {
		m.drift.baseline = now
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	var changed []string
	set := []any{"CONFIG", "SET"}
	for _, k := range keys {
		if b, ok := base[k]; ok && now[k] != b {
			changed = append(changed, fmt.Sprintf("%s=%q (was %q)", k, now[k], b))
			set = append(set, k, inForce[k])
		}
	}
	if len(changed) == 0 {
		return
	}
	if err := c.Do(ctx, set...).Err(); err != nil {
		m.log.Error("cannot put back parameters changed behind the operator's back", "changed", changed, "err", err)
		return
	}
	desc := "changed on the server and put back: " + strings.Join(changed, ", ")
	m.log.Warn("parameters were changed behind the operator's back; put back the parameter group", "changed", changed)
	m.mu.Lock()
	m.drift.restores++
	m.drift.last, m.drift.lastAt = desc, time.Now()
	m.drift.baseline = nil
	m.mu.Unlock()
}
