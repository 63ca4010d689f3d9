package bootrole

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/haredis/haredis/internal/quorum"
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
	// LastRole is the role the manager last saw this instance in.
	LastRole string `json:"lastRole,omitempty"`
	// Position of the data on the volume, as far as the manager knows it.
	Position Position `json:"position"`
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

// Peer is another instance of the same RedisFailover, reached directly:
// its redis-server when one runs, and its instance manager.
type Peer struct {
	Name string `json:"name"`
	// Reachable: its redis-server answers.
	Reachable bool `json:"reachable"`
	// Role is "master" or "slave".
	Role string `json:"role,omitempty"`
	// Following is the instance a replica replicates from, "" if unknown.
	Following string `json:"following,omitempty"`
	LinkUp    bool   `json:"linkUp,omitempty"`
	Offset    int64  `json:"offset,omitempty"`
	Keys      int64  `json:"keys,omitempty"`
	Loading   bool   `json:"loading,omitempty"`
	// Unpromotable: a replica whose replica-priority is 0, which Sentinel
	// never promotes.
	Unpromotable bool   `json:"unpromotable,omitempty"`
	Err          string `json:"err,omitempty"`
	// Manager is what its instance manager reports; nil when it does not
	// answer.
	Manager *PeerManager `json:"manager,omitempty"`
}

// PeerManager is a peer's own account of itself, also while its
// redis-server is stopped (a waiting instance still has data on its volume).
type PeerManager struct {
	Phase string `json:"phase"`
	// HasData: its data set, on its volume or in its running server, is not
	// empty.
	HasData  bool     `json:"hasData"`
	Position Position `json:"position"`
	// Promotable: it runs as a replica that Sentinel may promote (it synced
	// with the primary since it started, or holds data as recent as every
	// instance that answers).
	Promotable bool `json:"promotable"`
	// Links are the history links it knows.
	Links map[string]Link `json:"links,omitempty"`
	// DataError: its redis-server could not load the data on its volume.
	DataError string `json:"dataError,omitempty"`
}

// Answers tells whether the peer's redis-server or its manager answered.
func (p Peer) Answers() bool { return p.Reachable || p.Manager != nil }

// HoldsData: the peer's running server has keys (or is still loading
// them), or its manager says its data set is not empty.
func (p Peer) HoldsData() bool {
	return (p.Reachable && (p.Keys > 0 || p.Loading)) || (p.Manager != nil && p.Manager.HasData)
}

// position is the peer's data position as its manager reports it. A
// peer that cannot load its data does not hold all of its history, whatever
// it held when it was primary (Position.Head).
func (p Peer) position() Position {
	if p.Manager == nil {
		return Position{}
	}
	pos := p.Manager.Position
	if p.Manager.DataError != "" {
		pos.Head = false
	}
	return pos
}

// BootPosition is the position of the data an instance boots with. A
// primary that booted from a stale sample of a history it headed holds all
// its replicas hold of that history: its position is raised to the highest
// of theirs that the decision saw, so that the history it begins now
// (whose base this position becomes) is ordered against their data later,
// also if it stops again before they synchronise.
func BootPosition(f Facts, d Decision) Position {
	own := f.Own.Position
	if d.Action != Primary || !own.Head || own.Exact {
		return own
	}
	for _, p := range f.Peers {
		if q := p.position(); q.ReplID == own.ReplID && !q.Head && q.Offset > own.Offset {
			own.Offset = q.Offset
		}
	}
	return own
}

// candidate: the peer runs as a replica holding data that Sentinel may
// promote: its replica-priority, which is what Sentinel reads, is not 0.
func (p Peer) candidate() bool {
	return p.Reachable && p.Role == "slave" && p.HoldsData() && !p.Unpromotable
}

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
	// Forced names the instance a human chose as primary (the RedisFailover's
	// annotation haredis.dev/force-primary, delivered by the operator): it
	// may become primary without holding the newest data, and the others
	// follow it whatever they hold.
	Forced string `json:"forced,omitempty"`
	// Cluster is the RedisFailover's name, for the commands a message
	// suggests.
	Cluster string `json:"cluster,omitempty"`
	// Links are the history links this instance knows (its own and those
	// its peers published).
	Links map[string]Link `json:"links,omitempty"`
}

// links collects every link the facts know or their positions mention.
func (f Facts) links() *Links {
	l := NewLinks(f.Own.Position)
	l.PutAll(f.Links)
	for _, p := range f.Peers {
		l.Add(p.position())
		if p.Manager != nil {
			l.PutAll(p.Manager.Links)
		}
	}
	return l
}

func (f Facts) peer(name string) (Peer, bool) {
	for _, p := range f.Peers {
		if p.Name == name {
			return p, true
		}
	}
	return Peer{}, false
}

// forceHint is the command a human runs to choose the primary.
func (f Facts) forceHint() string {
	name := f.Cluster
	if name == "" {
		name = "NAME"
	}
	return fmt.Sprintf("to choose one yourself, accepting the loss of what the others hold beyond it: kubectl annotate redisfailovers.haredis.dev %s haredis.dev/force-primary=INSTANCE", name)
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
// the recorded primary, no other instance is primary, and no instance that
// answers holds data as recent as its own (Sentinel fails over to that one
// instead) or of a history it cannot order against its own. A recorded
// primary that restarts while replicas hold its data waits for the
// sentinels to fail over instead of coming back as a primary that a full
// resync would later overwrite.
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
	majority := quorum.Majority(len(f.Sentinels))
	if addr, ok := quorum.Named(votes, len(f.Sentinels)); ok {
		n := votes[addr]
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
		return refuseOlderPrimary(f, d)
	}
	// Without sentinels, an instance that reports master is a better fact
	// than the operator's initial record, which may be old.
	if m := masters(f.Peers); len(m) == 1 && m[0] != rec {
		d.Master = m[0]
		d.Reason = fmt.Sprintf("the sentinels know nothing; %s reports role master (the initial record names %s)", m[0], rec)
		return refuseOlderPrimary(f, d)
	} else if len(m) > 1 {
		return Decision{Action: Wait, Recorded: rec, RecordedBy: by, Reason: fmt.Sprintf(
			"the sentinels know nothing and several instances report role master (%s); waiting", strings.Join(m, ", "))}
	}
	d.Reason = fmt.Sprintf("the sentinels know nothing; the operator recorded %s as initial primary", rec)
	return refuseOlderPrimary(f, d)
}

// refuseOlderPrimary turns a decision to follow a running primary into a
// wait when this instance holds strictly more of the same history: a full
// resync from it would discard writes that nobody else has. A primary a
// human forced is followed whatever it holds.
func refuseOlderPrimary(f Facts, d Decision) Decision {
	p, ok := f.peer(d.Master)
	if !ok || !p.Reachable || p.Role != "master" || !f.Own.HasData || f.Forced == d.Master {
		return d
	}
	if f.links().Compare(f.Own.Position, p.position()) != Newer {
		return d
	}
	return Decision{Action: Wait, Recorded: d.Recorded, RecordedBy: d.RecordedBy, Reason: fmt.Sprintf(
		"this instance holds newer data (%s) than the primary %s (%s): following it would discard writes only this instance has; waiting; %s",
		f.Own.Position, p.Name, p.position(), f.forceHint())}
}

func bootAsRecordedPrimary(f Facts, by string) Decision {
	wait := func(format string, a ...interface{}) Decision {
		return Decision{Action: Wait, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(format, a...)}
	}
	if m := masters(f.Peers); len(m) > 0 {
		if by == ByInitialRecord && len(m) == 1 {
			return refuseOlderPrimary(f, Decision{Action: Replica, Master: m[0], Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
				"the sentinels know nothing and %s reports role master; following it rather than the initial record", m[0])})
		}
		return wait("recorded primary by %s, but %s reports role master; never two primaries, waiting for the sentinels", by, strings.Join(m, ", "))
	}
	if f.Forced == f.Self {
		return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: "recorded primary, chosen by a human (haredis.dev/force-primary): booting as primary whatever the other instances hold"}
	}
	if by == ByInitialRecord {
		for _, p := range f.Peers {
			if p.Reachable && p.Role == "slave" && p.Following != "" && p.Following != f.Self {
				return wait("the sentinels know nothing and %s follows %s, so the initial record is out of date; waiting", p.Name, p.Following)
			}
		}
	}
	var candidates, newer, unordered, holders, unreachable []string
	links := f.links()
	for _, p := range f.Peers {
		if !p.Answers() {
			unreachable = append(unreachable, p.Name)
			continue
		}
		if !p.HoldsData() {
			continue
		}
		holders = append(holders, p.Name)
		if p.candidate() {
			candidates = append(candidates, p.Name)
			continue
		}
		switch {
		case !f.Own.HasData:
			newer = append(newer, p.Name)
		default:
			switch links.Compare(f.Own.Position, p.position()) {
			case Older, Same:
				newer = append(newer, fmt.Sprintf("%s (%s)", p.Name, p.position()))
			case Unordered:
				unordered = append(unordered, fmt.Sprintf("%s (%s)", p.Name, p.position()))
			}
		}
	}
	switch {
	case len(candidates) > 0 && !f.Own.HasData:
		return wait("empty while %s hold data: never primary; waiting for the sentinels to fail over", strings.Join(candidates, ", "))
	case len(candidates) > 0:
		return wait("restarted as recorded primary while %s hold data: waiting for the sentinels to fail over rather than accepting writes a resync could discard", strings.Join(candidates, ", "))
	case len(newer) > 0 && !f.Own.HasData:
		return wait("empty while %s hold data: never primary; waiting until one of them can be promoted and the sentinels fail over", strings.Join(newer, ", "))
	case len(newer) > 0:
		return wait("%s hold data as recent as this instance's (%s) or newer: never primary over them; waiting until one of them can be promoted and the sentinels fail over", strings.Join(newer, ", "), f.Own.Position)
	case len(unordered) > 0:
		return wait("%s hold data that cannot be ordered against this instance's (%s): the histories diverged or are unknown, so the newest cannot be told; waiting; %s", strings.Join(unordered, ", "), f.Own.Position, f.forceHint())
	}
	if len(unreachable) == 0 {
		if f.Own.HasData {
			return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: primaryReason(by, f, holders)}
		}
		return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
			"recorded primary (by %s), every instance answers and none holds data", by)}
	}
	if f.Waited < f.MaxWait {
		return wait("recorded primary, but %s cannot be reached and may hold data; waiting up to %s (waited %s)",
			strings.Join(unreachable, ", "), f.MaxWait, f.Waited.Round(time.Second))
	}
	if f.Own.HasData {
		return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
			"recorded primary (by %s) holding the newest data of the instances that answer; %s unreachable for %s", by, strings.Join(unreachable, ", "), f.MaxWait)}
	}
	if f.Own.HadData {
		return wait("empty now but held data before, and %s cannot be reached: it may hold the only copy; never primary until it answers or the sentinels fail over; %s", strings.Join(unreachable, ", "), f.forceHint())
	}
	return Decision{Action: Primary, Recorded: f.Self, RecordedBy: by, Reason: fmt.Sprintf(
		"recorded primary (by %s) of a new data set: never held data, no instance that answers holds data, %s unreachable for %s", by, strings.Join(unreachable, ", "), f.MaxWait)}
}

func primaryReason(by string, f Facts, holders []string) string {
	if len(holders) == 0 {
		return fmt.Sprintf("recorded primary (by %s), holds data, no other instance is primary or holds data", by)
	}
	return fmt.Sprintf("recorded primary (by %s) holding the newest data (%s): %s hold older data and will resynchronise from it", by, f.Own.Position, strings.Join(holders, ", "))
}

// Promotable tells whether a replica that has not completed a
// synchronisation since its redis-server started may be promoted by
// Sentinel: only when it holds data at least as recent as every instance
// that answers (all of them, or those that answered within MaxWait), or a
// human chose it. Sentinel picks among promotable replicas by priority and
// offset, but offsets of a replica restarted from an append-only file mean
// nothing, so a replica that could hold older data must not be a
// candidate at all: its replica-priority stays 0.
func Promotable(f Facts) (bool, string) {
	if f.Forced == f.Self {
		return true, "chosen by a human (haredis.dev/force-primary)"
	}
	if !f.Own.HasData {
		return false, "holds no data: promotable once it completed a full synchronisation"
	}
	if f.Forced != "" {
		return false, fmt.Sprintf("a human chose %s as primary (haredis.dev/force-primary)", f.Forced)
	}
	links := f.links()
	var unreachable []string
	for _, p := range f.Peers {
		if !p.Answers() {
			unreachable = append(unreachable, p.Name)
			continue
		}
		if !p.HoldsData() {
			continue
		}
		switch links.Compare(f.Own.Position, p.position()) {
		case Older:
			return false, fmt.Sprintf("%s holds newer data (%s) than this instance (%s)", p.Name, p.position(), f.Own.Position)
		case Unordered:
			return false, fmt.Sprintf("%s holds data (%s) that cannot be ordered against this instance's (%s)", p.Name, p.position(), f.Own.Position)
		}
	}
	if len(unreachable) > 0 && f.Waited < f.MaxWait {
		return false, fmt.Sprintf("%s cannot be reached yet and may hold newer data (waited %s of %s)", strings.Join(unreachable, ", "), f.Waited.Round(time.Second), f.MaxWait)
	}
	return true, fmt.Sprintf("holds data (%s) as recent as every instance that answers", f.Own.Position)
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
