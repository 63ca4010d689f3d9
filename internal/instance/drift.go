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

// driftState holds the values a server running the desired group reports
// for its parameters (Redis reports its own canonical forms: bytes for 1gb,
// flags in its own order), taken from the throwaway server that checked
// the group, so that the running server is compared with what the group
// makes, never with a snapshot that may already have drifted.
type driftState struct {
	baseline map[string]string
	checked  time.Time
	restores int
	last     string
	lastAt   time.Time
}

// setCanonical records the canonical values of the group just checked.
func (m *Manager) setCanonical(values map[string]string) {
	m.mu.Lock()
	m.drift.baseline = values
	m.mu.Unlock()
}

// checkDrift puts back the group's parameters when someone changed them on
// the running server (CONFIG SET behind the operator's back): nothing but
// the operator, through this manager, changes an instance's configuration.
func (m *Manager) checkDrift(ctx context.Context) {
	m.mu.Lock()
	due := time.Since(m.drift.checked) >= driftEvery
	inForce := copyMap(m.group.InForce)
	// The manager and the switchover change replica-priority themselves;
	// a parameter waiting for a restart differs until then.
	delete(inForce, "replica-priority")
	for _, k := range m.group.RestartRequired {
		delete(inForce, k)
	}
	base := m.drift.baseline
	m.mu.Unlock()
	if !due || len(inForce) == 0 || base == nil {
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
	m.mu.Unlock()
}
