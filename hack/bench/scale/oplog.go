package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/haredis/haredis/test/operatorbed"
)

// hintMessages are the operator's log messages for a Sentinel hint: about
// a primary (+sdown, -sdown, +odown) or a role (+role-change,
// +convert-to-slave). After one the operator looks at that RedisFailover
// every 250 ms for hintWindow (the controller's constant of that name),
// which shows in the reconciles and status writes of a window.
var hintMessages = map[string]bool{"sentinel hint about the master": true, "sentinel hint about a role": true}

const hintWindow = 15 * time.Second

// window is a span of the run.
type window struct{ from, to time.Time }

// countHints counts the Sentinel hints in the operator's log that make the
// operator look closely during each window: those in it and in the
// hintWindow before it. The log's timestamps are whole seconds, so a
// count may be off by the hints of one second at either end.
func (b *bench) countHints(ctx context.Context, ws ...window) ([]int, error) {
	out, err := b.env.Kubectl(ctx, "-n", operatorbed.OperatorNamespace, "logs", "pod/"+b.op.pod, "-c", operatorbed.OperatorContainer)
	if err != nil {
		return nil, fmt.Errorf("cannot read the operator's log: %w", err)
	}
	counts := make([]int, len(ws))
	for _, line := range strings.Split(out, "\n") {
		var e struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || !hintMessages[e.Msg] {
			continue
		}
		at, err := time.Parse(time.RFC3339, e.TS)
		if err != nil {
			continue
		}
		for i, w := range ws {
			if !at.Before(w.from.Add(-hintWindow).Truncate(time.Second)) && at.Before(w.to) {
				counts[i]++
			}
		}
	}
	return counts, nil
}
