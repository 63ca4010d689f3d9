package controller

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The rolling update as a pure decision: given what the pods run and how
// the instances and sentinels are doing, what is the one next step? The
// order is the design's rule 5: sentinels and replicas one at a time, each
// back before the next, then a switchover, then the old primary.

// memberState is one Redis instance as the rolling update sees it.
type memberState struct {
	name string
	// hasPod is false while the pod is missing (about to be created).
	hasPod, deleting bool
	// current: the pod runs the current revision.
	current bool
	// pendingRestart lists parameters that need a restart of redis-server.
	pendingRestart []string
	ready          bool
	primary        bool
	lagBytes       int64
}

func (m memberState) outdated() bool { return !m.current || len(m.pendingRestart) > 0 }

// sentinelState is one dedicated sentinel.
type sentinelState struct {
	name             string
	hasPod, deleting bool
	current          bool
}

type updateInput struct {
	members   []memberState
	sentinels []sentinelState
	// sentinelsHealthy: every sentinel answers, knows every replica and
	// peer, and a majority names the recorded primary.
	sentinelsHealthy bool
	// switchoverBlocked: a switchover is under way or failed moments ago.
	switchoverBlocked bool
	// imageRefused says why spec.redis.image cannot replace what runs
	// (checkImage); then no pod is replaced.
	imageRefused string
}

type updateKind int

const (
	updateNone updateKind = iota
	// updateWait: something must settle first; message says what.
	updateWait
	updateDeletePod
	updateDeleteSentinel
	updateSwitchover
)

type updateStep struct {
	kind updateKind
	// target is the pod to delete or the instance to promote.
	target  string
	message string
}

// nextUpdate returns the next step of the rolling update.
func nextUpdate(in updateInput) updateStep {
	var outdated, outdatedSentinels []string
	for _, m := range in.members {
		if m.hasPod && !m.deleting && m.outdated() {
			outdated = append(outdated, m.name)
		}
	}
	for _, s := range in.sentinels {
		if s.hasPod && !s.deleting && !s.current {
			outdatedSentinels = append(outdatedSentinels, s.name)
		}
	}
	if len(outdated) == 0 && len(outdatedSentinels) == 0 {
		return updateStep{kind: updateNone}
	}
	progress := fmt.Sprintf("%d instances and %d sentinels to update", len(outdated), len(outdatedSentinels))
	if in.imageRefused != "" {
		return updateStep{kind: updateWait, message: fmt.Sprintf("%s; stopped, no pod is replaced: %s", progress, in.imageRefused)}
	}
	for _, m := range in.members {
		if !m.hasPod || m.deleting {
			return updateStep{kind: updateWait, message: fmt.Sprintf("%s; waiting for the pod of %s to be replaced", progress, m.name)}
		}
	}
	// A replica that does not serve anyway can go at once: replacing it
	// takes nothing away, and it may be what the update repairs.
	for _, m := range in.members {
		if m.outdated() && !m.ready && !m.primary {
			return updateStep{kind: updateDeletePod, target: m.name, message: fmt.Sprintf("%s; replacing %s, which is not ready", progress, m.name)}
		}
	}
	var notReady []string
	for _, m := range in.members {
		if !m.ready {
			notReady = append(notReady, m.name)
		}
	}
	if len(notReady) > 0 {
		return updateStep{kind: updateWait, message: fmt.Sprintf("%s; waiting for %s to be ready", progress, strings.Join(notReady, ", "))}
	}
	for _, s := range in.sentinels {
		if !s.hasPod || s.deleting {
			return updateStep{kind: updateWait, message: fmt.Sprintf("%s; waiting for sentinel %s to be replaced", progress, s.name)}
		}
	}
	if !in.sentinelsHealthy {
		return updateStep{kind: updateWait, message: progress + "; waiting for every sentinel to know every replica and peer and see every replica up"}
	}
	if len(outdatedSentinels) > 0 {
		return updateStep{kind: updateDeleteSentinel, target: outdatedSentinels[0], message: fmt.Sprintf("%s; replacing sentinel %s", progress, outdatedSentinels[0])}
	}
	var primary *memberState
	for i := range in.members {
		m := &in.members[i]
		if m.primary {
			primary = m
			continue
		}
		if m.outdated() {
			return updateStep{kind: updateDeletePod, target: m.name, message: fmt.Sprintf("%s; replacing replica %s", progress, m.name)}
		}
	}
	if primary == nil {
		return updateStep{kind: updateWait, message: progress + "; waiting for a primary"}
	}
	if len(in.members) == 1 {
		return updateStep{kind: updateDeletePod, target: primary.name,
			message: fmt.Sprintf("%s; replacing the only instance %s: Redis is unavailable until it is back (add replicas to update without downtime)", progress, primary.name)}
	}
	if in.switchoverBlocked {
		return updateStep{kind: updateWait, message: progress + "; waiting for the switchover away from the primary " + primary.name}
	}
	// The replica closest to the primary takes over: the fence is shortest.
	candidates := make([]memberState, 0, len(in.members)-1)
	for _, m := range in.members {
		if !m.primary {
			candidates = append(candidates, m)
		}
	}
	lag := func(m memberState) int64 {
		if m.lagBytes < 0 {
			return math.MaxInt64
		}
		return m.lagBytes
	}
	sort.SliceStable(candidates, func(i, j int) bool { return lag(candidates[i]) < lag(candidates[j]) })
	return updateStep{kind: updateSwitchover, target: candidates[0].name,
		message: fmt.Sprintf("%s; switching over from %s to %s before replacing it", progress, primary.name, candidates[0].name)}
}
