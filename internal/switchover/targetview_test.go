package switchover

import (
	"errors"
	"testing"
)

// TestTargetView is the rule of what a sentinel must know of the target
// before a switchover may start.
func TestTargetView(t *testing.T) {
	for _, c := range []struct {
		name  string
		rep   map[string]string
		stale bool
		ok    bool
	}{
		{"a healthy replica", map[string]string{"flags": "slave", "role-reported": "slave"}, false, true},
		{"last heard as a master", map[string]string{"flags": "slave", "role-reported": "master"}, true, false},
		{"down and last heard as a master", map[string]string{"flags": "slave,s_down", "role-reported": "master"}, true, false},
		{"down", map[string]string{"flags": "slave,s_down", "role-reported": "slave"}, true, false},
		{"disconnected", map[string]string{"flags": "slave,disconnected", "role-reported": "slave"}, true, false},
		{"promoted by a failover under way", map[string]string{"flags": "slave,promoted", "role-reported": "slave"}, false, false},
		{"no role reported", map[string]string{"flags": "slave"}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := targetView(c.rep)
			if got := errors.Is(err, errStaleView); got != c.stale {
				t.Errorf("targetView(%v) = %v, stale %v, want stale %v", c.rep, err, got, c.stale)
			}
			if (err == nil) != c.ok {
				t.Errorf("targetView(%v) = %v, want ok %v", c.rep, err, c.ok)
			}
		})
	}
}
