package bootrole

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Action is what the instance does next.
type Action string

const (
	// Primary starts redis-server without replicaof.
	Primary Action = "primary"
	// Replica starts redis-server as a replica of Decision.Master.
	Replica Action = "replica"
	// Wait keeps redis-server stopped, so nothing can write to this
	// instance, and decides again later.
	Wait Action = "wait"
)

// Recorded says where the recorded primary comes from.
const (
	BySentinels     = "sentinels"
	ByInitialRecord = "initialPrimary"
)

// OwnData describes this instance's volume.
type OwnData struct {
	// HasData: an RDB or AOF with at least one key (or anything but
	// metadata) is on the volume.
	HasData bool `json:"hasData"`
	// HadData: the manager saw keys in this instance before (its state file
	// on the volume says so). An instance that was never written to is new.
	HadData bool `json:"hadData"`
	// Last replication state the manager persisted.
	LastRole   string `json:"lastRole,omitempty"`
	LastOffset int64  `json:"lastOffset,omitempty"`
	LastReplID string `json:"lastReplID,omitempty"`
}

// SentinelAnswer is one sentinel's reply to SENTINEL GET-MASTER-ADDR-BY-NAME.
type SentinelAnswer struct {
	Addr      string `json:"addr"`
	Reachable bool   `json:"reachable"`
	// Known: the sentinel monitors the master name.
	Known bool `json:"known"`
	// MasterAddr is host:port as the sentinel gave it; Master is the
	// instance at that address, "" when it is none of ours.
	MasterAddr string `json:"masterAddr,omitempty"`
	Master     string `json:"master,omitempty"`
	Err        string `json:"err,omitempty"`
}

// Peer is another instance of the same RedisFailover, reached directly.
type Peer struct {
	Name      string `json:"name"`
	Reachable bool   `json:"reachable"`
	// Role is "master" or "slave".
	Role string `json:"role,omitempty"`
	// Following is the instance a replica replicates from, "" if unknown.
	Following string `json:"following,omitempty"`
	LinkUp    bool   `json:"linkUp,omitempty"`
	Offset    int64  `json:"offset,omitempty"`
	Keys      int64  `json:"keys,omitempty"`
	Loading   bool   `json:"loading,omitempty"`
	Err       string `json:"err,omitempty"`
}

// HoldsData: the peer answers and has keys (or is still loading them).
func (p Peer) HoldsData() bool { return p.Reachable && (p.Keys > 0 || p.Loading) }

// Facts are everything the decision depends on.
type Facts struct {
	Self           string           `json:"self"`
	InitialPrimary string           `json:"initialPrimary"`
	Own            OwnData          `json:"own"`
	Sentinels      []SentinelAnswer `json:"sentinels"`
	Peers          []Peer           `json:"peers"`
	// Waited is how long this boot has waited so far; MaxWait bounds the
	// waits that may end (unreachable peers), not the waits for a failover.
	Waited  time.Duration `json:"waited"`
	MaxWait time.Duration `json:"maxWait"`
}

// Decision is the outcome.
type Decision struct {
	Action Action `json:"action"`
	// Master is the instance to replicate from (Replica only); MasterAddr
	// its address as the sentinels gave it, "" when taken from the
	// operator's record.
	Master     string `json:"master,omitempty"`
	MasterAddr string `json:"masterAddr,omitempty"`
	// Recorded is the recorded primary and RecordedBy where it comes from.
	Recorded   string `json:"recorded,omitempty"`
	RecordedBy string `json:"recordedBy,omitempty"`
	Reason     string `json:"reason"`
}

// Decide applies the safety rules: an instance boots as primary only if it is
// the recorded primary, no other instance is primary, and it is not empty
// while a peer holds data. A recorded primary that restarts while replicas
// hold data waits for the sentinels to fail over instead of coming back as a
// primary that a full resync would later overwrite.
func Decide(f Facts) Decision {
	rec, by, d, ok := recordedPrimary(f)
	if !ok {
		return d
	}
	if rec == "" {
		return Decision{Action: Wait, Reason: "no primary is recorded: the sentinels know nothing and the operator recorded no initial primary"}
	}
	if rec != f.Self {
		return follow(f, rec, by)
	}
	return bootAsRecordedPrimary(f, by)
}

// recordedPrimary returns the primary a sentinel majority names, or the
// operator's initial record when no reachable sentinel knows the master.
func recordedPrimary(f Facts) (string, string, Decision, bool) {
	votes := map[string]int{}
	names := map[string]string{}
	known := 0
	for _, s := range f.Sentinels {
		if !s.Reachable || !s.Known {
			continue
		}
		known++
		votes[s.MasterAddr]++
		names[s.MasterAddr] = s.Master
	}
	majority := len(f.Sentinels)/2 + 1
	for addr, n := range votes {
		if n < majority {
			continue
		}
		if names[addr] == "" {
			return "", "", Decision{Action: Wait, RecordedBy: BySentinels, Reason: fmt.Sprintf(
				"a sentinel majority (%d of %d) names %s, which is no instance of this RedisFailover; never following it", n, len(f.Sentinels), addr)}, false
		}
		return names[addr], BySentinels, Decision{}, true
	}
	if known > 0 {
		return "", "", Decision{Action: Wait, Reason: fmt.Sprintf(
			"no sentinel majority: %d of %d sentinels know the master and they name %s; need %d agreeing",
			known, len(f.Sentinels), describeVotes(votes), majority)}, false
	}
	return f.InitialPrimary, ByInitialRecord, Decision{}, true
}

func follow(f Facts, rec, by string) Decision {
	d := Decision{Action: Replica, Master: rec, Recorded: rec, RecordedBy: by}
	if by == BySentinels {
		for _, s := range f.Sentinels {
			if s.Reachable && s.Known && s.Master == rec {
				d.MasterAddr = s.MasterAddr
				break
			}
		}
		d.Reason = fmt.Sprintf("the sentinel majority names %s as primary", rec)
		return d
	}
	// Without sentinels, an instance that reports master is a better fact
	// than the operator's initial record, which may be old.
	if m := masters(f.Peers); len(m) == 1 && m[0] != rec {
		d.Master = m[0]
		d.Reason = fmt.Sprintf("the sentinels know nothing; %s reports role master (the initial record names %s)", m[0], rec)
		return d
	} else if len(m) > 1 {
		return Decision{Action: Wait, Recorded: rec, RecordedBy: by, Reason: fmt.Sprintf(
			"the sentinels know nothing and several instances report role master (%s); waiting", strings.Join(m, ", "))}
	}
	d.Reason = fmt.Sprintf("the sentinels know nothing; the operator recorded %s as initial primary", rec)
	return d
}

func bootAsRecordedPrimary(f Facts, by string) Decision {
	wait := func(format string, a ...interface{}) Decision {
		return Decision{Action: Wait, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(format, a...)}
	}
	if m := masters(f.Peers); len(m) > 0 {
		if by == ByInitialRecord && len(m) == 1 {
			return Decision{Action: Replica, Master: m[0], Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
				"the sentinels know nothing and %s reports role master; following it rather than the initial record", m[0])}
		}
		return wait("recorded primary by %s, but %s reports role master; never two primaries, waiting for the sentinels", by, strings.Join(m, ", "))
	}
	if by == ByInitialRecord {
		for _, p := range f.Peers {
			if p.Reachable && p.Role == "slave" && p.Following != "" && p.Following != f.Self {
				return wait("the sentinels know nothing and %s follows %s, so the initial record is out of date; waiting", p.Name, p.Following)
			}
		}
	}
	var holders, unreachable []string
	for _, p := range f.Peers {
		if p.HoldsData() {
			holders = append(holders, p.Name)
		}
		if !p.Reachable {
			unreachable = append(unreachable, p.Name)
		}
	}
	if len(holders) > 0 {
		if !f.Own.HasData {
			return wait("empty while %s hold data: never primary; waiting for the sentinels to fail over", strings.Join(holders, ", "))
		}
		return wait("restarted as recorded primary while %s hold data: waiting for the sentinels to fail over rather than accepting writes a resync could discard", strings.Join(holders, ", "))
	}
	if len(unreachable) == 0 {
		if f.Own.HasData {
			return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
				"recorded primary (by %s), holds data, no other instance is primary or holds data", by)}
		}
		return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
			"recorded primary (by %s), every instance is reachable and empty", by)}
	}
	if f.Waited < f.MaxWait {
		return wait("recorded primary, but %s cannot be reached and may hold data; waiting up to %s (waited %s)",
			strings.Join(unreachable, ", "), f.MaxWait, f.Waited.Round(time.Second))
	}
	if f.Own.HasData {
		return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
			"recorded primary (by %s) with data; %s unreachable for %s and no reachable instance holds data", by, strings.Join(unreachable, ", "), f.MaxWait)}
	}
	if f.Own.HadData {
		return wait("empty now but held data before, and %s cannot be reached: it may hold the only copy; never primary until it answers or the sentinels fail over", strings.Join(unreachable, ", "))
	}
	return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
		"recorded primary (by %s) of a new data set: never held data, no reachable instance holds data, %s unreachable for %s", by, strings.Join(unreachable, ", "), f.MaxWait)}
}

func masters(peers []Peer) []string {
	var m []string
	for _, p := range peers {
		if p.Reachable && p.Role == "master" {
			m = append(m, p.Name)
		}
	}
	return m
}

func describeVotes(votes map[string]int) string {
	var parts []string
	for addr, n := range votes {
		parts = append(parts, fmt.Sprintf("%s (%d)", addr, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
