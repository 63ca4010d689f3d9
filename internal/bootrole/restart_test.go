package bootrole

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func pos(id string, off int64) Position { return Position{ReplID: id, Offset: off, Exact: true} }

// waiting is a peer whose redis-server is stopped while its manager decides.
func waiting(name string, p Position) Peer {
	return Peer{Name: name, Err: "connection refused", Manager: &PeerManager{Phase: "waiting", HasData: p.Known(), Position: p}}
}

// restarted is a peer running as a replica with link down, not yet
// synchronised, holding data at p; promotable says what its manager set.
func restarted(name, master string, p Position, promotable bool) Peer {
	return Peer{Name: name, Reachable: true, Role: "slave", Following: master, Keys: 10, Unpromotable: !promotable,
		Manager: &PeerManager{Phase: "running", HasData: true, Position: p, Promotable: promotable}}
}

var allNameA1 = []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")}

// TestDecideAfterFullRestart: every instance restarted at once (or a
// re-created RedisFailover adopted kept volumes); the one holding the most
// recent data of the shared history must end up primary, never an older or
// empty one.
func TestDecideAfterFullRestart(t *testing.T) {
	cases := map[string]struct {
		reason string
		facts  Facts
		want   Decision
		// wantIn: words the reason must contain.
		wantIn string
	}{
		"recorded primary newest, replicas older and not promotable": {
			facts: Facts{Self: "a-1", Own: OwnData{HasData: true, Position: pos("r", 100)}, Sentinels: allNameA1,
				Peers: []Peer{restarted("a-2", "a-1", pos("r", 90), false), restarted("a-3", "a-1", pos("r", 80), false)}},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: BySentinels}, wantIn: "newest",
		},
		"recorded primary older than a waiting peer": {
			reason: "a stale initial record or sentinels naming an instance with an older snapshot",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true, Position: pos("r", 50)},
				Peers: []Peer{waiting("a-2", pos("r", 100)), restarted("a-3", "a-1", pos("r", 40), false)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: ByInitialRecord}, wantIn: "a-2",
		},
		"recorded primary older than a promotable replica": {
			facts: Facts{Self: "a-1", Own: OwnData{HasData: true, Position: pos("r", 50)}, Sentinels: allNameA1,
				Peers: []Peer{restarted("a-2", "a-1", pos("r", 100), true), restarted("a-3", "a-1", pos("r", 40), false)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels}, wantIn: "fail over",
		},
		"recorded primary was failed over while cut off, then everything restarted": {
			reason: "the old primary went on in its history past the promotion of a-2's line (a partition, then a re-created RedisFailover): the promotion superseded that tail, as Sentinel would have had the old primary rejoined",
			facts: Facts{Self: "a-1", Own: OwnData{HasData: true, Position: pos("h1", 248552)}, Sentinels: allNameA1,
				Peers: []Peer{restarted("a-2", "a-1", Position{ReplID: "h2", Offset: 426367, ReplID2: "h1", SecondOffset: 246113, Exact: true}, true)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels}, wantIn: "fail over",
		},
		"equal data everywhere: let Sentinel pick": {
			reason: "Sentinel is the only authority for unplanned failover; the recorded primary does not race it",
			facts: Facts{Self: "a-1", Own: OwnData{HasData: true, Position: pos("r", 100)}, Sentinels: allNameA1,
				Peers: []Peer{restarted("a-2", "a-1", pos("r", 100), true), restarted("a-3", "a-1", pos("r", 100), true)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"a peer of another history": {
			facts: Facts{Self: "a-1", Cluster: "app", Own: OwnData{HasData: true, Position: pos("r", 100)}, Sentinels: allNameA1,
				Peers: []Peer{restarted("a-2", "a-1", pos("x", 100), false), restarted("a-3", "a-1", pos("r", 10), false)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels}, wantIn: "haredis.dev/force-primary",
		},
		"forced by a human over newer data": {
			facts: Facts{Self: "a-1", Forced: "a-1", Own: OwnData{HasData: true, Position: pos("r", 50)}, Sentinels: allNameA1,
				Peers: []Peer{waiting("a-2", pos("r", 100))}},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"forced, but another instance is master": {
			reason: "never two primaries, not even when forced",
			facts: Facts{Self: "a-1", Forced: "a-1", Own: OwnData{HasData: true, Position: pos("r", 50)}, Sentinels: allNameA1,
				Peers: []Peer{primaryPeer("a-2", 3)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"scale up then crash: replicas the old member list missed are peers too": {
			reason: "the manager adds the replicas its state file and the sentinels know",
			facts: Facts{Self: "a-1", Own: OwnData{HasData: true, HadData: true, Position: Position{ReplID: "r", Offset: 900}}, Sentinels: allNameA1,
				Peers: []Peer{replicaOf("a-2", "a-1", 19804), replicaOf("a-3", "a-1", 19804)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"replica refuses to follow a running primary holding less": {
			facts: Facts{Self: "a-2", Cluster: "app", Own: OwnData{HasData: true, Position: pos("r", 100)},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers: []Peer{{Name: "a-1", Reachable: true, Role: "master", Keys: 3,
					Manager: &PeerManager{Phase: "running", HasData: true, Position: pos("r", 60)}}}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels}, wantIn: "haredis.dev/force-primary",
		},
		"replica follows a forced primary holding less": {
			facts: Facts{Self: "a-2", Forced: "a-1", Own: OwnData{HasData: true, Position: pos("r", 100)},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers: []Peer{{Name: "a-1", Reachable: true, Role: "master", Keys: 3,
					Manager: &PeerManager{Phase: "running", HasData: true, Position: pos("r", 60)}}}},
			want: Decision{Action: Replica, Master: "a-1", MasterAddr: "a-1.h:6379", Recorded: "a-1", RecordedBy: BySentinels},
		},
		"replica follows a primary that went on after a failover": {
			reason: "the old primary's unreplicated writes are the failover's loss, not a reason to stop",
			facts: Facts{Self: "a-1", Own: OwnData{HasData: true, Position: pos("r1", 120)},
				Sentinels: []SentinelAnswer{sentinel("a-2"), sentinel("a-2"), sentinel("a-2")},
				Peers: []Peer{{Name: "a-2", Reachable: true, Role: "master", Keys: 3,
					Manager: &PeerManager{Phase: "running", HasData: true, Position: Position{ReplID: "r2", Offset: 150, ReplID2: "r1", SecondOffset: 101}}}}},
			want: Decision{Action: Replica, Master: "a-2", MasterAddr: "a-2.h:6379", Recorded: "a-2", RecordedBy: BySentinels},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := Decide(c.facts)
			if diff := cmp.Diff(c.want, got, cmpopts.IgnoreFields(Decision{}, "Reason")); diff != "" {
				t.Errorf("%s\nDecide() (-want +got):\n%s\nreason: %s", c.reason, diff, got.Reason)
			}
			if !strings.Contains(got.Reason, c.wantIn) {
				t.Errorf("reason %q does not mention %q", got.Reason, c.wantIn)
			}
		})
	}
}

func TestPromotable(t *testing.T) {
	cases := map[string]struct {
		facts Facts
		want  bool
	}{
		"empty: only after a full sync": {facts: Facts{Self: "a-2", Peers: []Peer{waiting("a-1", pos("r", 1))}}, want: false},
		"newest of all":                 {facts: Facts{Self: "a-2", Own: OwnData{HasData: true, Position: pos("r", 100)}, Peers: []Peer{waiting("a-1", pos("r", 90)), restarted("a-3", "a-1", pos("r", 100), false)}}, want: true},
		"a waiting peer is newer":       {facts: Facts{Self: "a-2", Own: OwnData{HasData: true, Position: pos("r", 80)}, Peers: []Peer{waiting("a-1", pos("r", 90))}}, want: false},
		"a peer of another history":     {facts: Facts{Self: "a-2", Own: OwnData{HasData: true, Position: pos("r", 80)}, Peers: []Peer{waiting("a-1", pos("x", 90))}}, want: false},
		"a peer does not answer yet": {facts: Facts{Self: "a-2", Own: OwnData{HasData: true, Position: pos("r", 80)}, Peers: []Peer{down("a-1")},
			Waited: time.Second, MaxWait: 30 * time.Second}, want: false},
		"a peer does not answer for long": {facts: Facts{Self: "a-2", Own: OwnData{HasData: true, Position: pos("r", 80)}, Peers: []Peer{down("a-1")},
			Waited: time.Minute, MaxWait: 30 * time.Second}, want: true},
		"forced":             {facts: Facts{Self: "a-2", Forced: "a-2", Own: OwnData{HasData: true, Position: pos("r", 80)}, Peers: []Peer{waiting("a-1", pos("r", 90))}}, want: true},
		"another one forced": {facts: Facts{Self: "a-2", Forced: "a-3", Own: OwnData{HasData: true, Position: pos("r", 80)}}, want: false},
		"peers without data": {facts: Facts{Self: "a-2", Own: OwnData{HasData: true, Position: pos("r", 8)}, Peers: []Peer{replicaOf("a-3", "a-1", 0)}}, want: true},
		"promoted while the old primary was cut off, then all restarted": {facts: Facts{Self: "a-2",
			Own:   OwnData{HasData: true, Position: Position{ReplID: "h2", Offset: 426367, ReplID2: "h1", SecondOffset: 246113, Exact: true}},
			Peers: []Peer{waiting("a-1", pos("h1", 248552))}}, want: true},
		"the old primary's line restarted from disk": {facts: Facts{Self: "a-2",
			Own:   OwnData{HasData: true, Position: Position{ReplID: "h3", Offset: 500, Base: &Position{ReplID: "h1", Offset: 246112}, Exact: true}},
			Peers: []Peer{waiting("a-1", pos("h1", 248552))}}, want: false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, why := Promotable(c.facts)
			if got != c.want || why == "" {
				t.Errorf("Promotable = %v (%s), want %v", got, why, c.want)
			}
		})
	}
}

// TestNeverPrimaryOverNewerData checks the safety rules over many
// combinations of peers reached through their managers: an instance never
// boots as primary while another is master, while a replica that Sentinel
// may promote holds data, or while an instance that answers holds data as
// recent as its own, newer, or not comparable with it; unless a human
// forced it, and then still never next to another master.
func TestNeverPrimaryOverNewerData(t *testing.T) {
	positions := []Position{{}, pos("r", 50), pos("r", 100), pos("r", 150), pos("x", 100), head("r", 80)}
	var kinds []Peer
	kinds = append(kinds, down("p"), primaryPeer("p", 5), replicaOf("p", "a-1", 0))
	for _, p := range positions {
		kinds = append(kinds, waiting("p", p), restarted("p", "a-1", p, false), restarted("p", "a-1", p, true))
	}
	for _, own := range positions {
		for _, forced := range []string{"", "a-1"} {
			for _, k1 := range kinds {
				for _, k2 := range kinds {
					for _, waited := range []time.Duration{0, time.Hour} {
						a, b := k1, k2
						a.Name, b.Name = "a-2", "a-3"
						f := Facts{Self: "a-1", Sentinels: allNameA1, Own: OwnData{HasData: own.Known(), Position: own},
							Peers: []Peer{a, b}, Waited: waited, MaxWait: time.Minute, Forced: forced}
						d := Decide(f)
						if d.Action != Primary {
							continue
						}
						links := f.links()
						for _, p := range f.Peers {
							if p.Reachable && p.Role == "master" {
								t.Fatalf("primary while %s is master: %+v -> %s", p.Name, f, d.Reason)
							}
							if forced != "" {
								continue
							}
							if p.candidate() {
								t.Fatalf("primary while %s may be promoted: %+v -> %s", p.Name, f, d.Reason)
							}
							if p.Answers() && p.HoldsData() {
								if !f.Own.HasData {
									t.Fatalf("empty primary while %s holds data: %+v -> %s", p.Name, f, d.Reason)
								}
								if o := links.Compare(f.Own.Position, p.position()); o != Newer {
									t.Fatalf("primary while %s holds data %s: %+v -> %s", p.Name, o, f, d.Reason)
								}
							}
						}
					}
				}
			}
		}
	}
}

// head is the position a primary with an append-only file last sampled
// before it was killed.
func head(id string, off int64) Position { return Position{ReplID: id, Offset: off, Head: true} }

// TestEveryPodKilledReplicaSampledLater: every pod is killed at once while
// writes go on. The manager samples positions at most once a second, so the
// replica's last sample (r@1100) can be higher than its primary's (r@1000)
// although the primary, whose append-only file holds every write before it
// is sent, holds everything the replica does and more. The primary must come
// back as primary and the replica follow it: were the replica promoted, the
// writes only the primary held would be lost.
func TestEveryPodKilledReplicaSampledLater(t *testing.T) {
	primarySample := head("r", 1000)
	replicaSample := Position{ReplID: "r", Offset: 1100}

	// The replica restarts first and follows the recorded primary, whose
	// redis-server is not running yet: it must not be promotable.
	replicaFacts := Facts{Self: "a-2", Sentinels: allNameA1, Waited: time.Hour, MaxWait: time.Minute,
		Own:   OwnData{HasData: true, HadData: true, LastRole: "slave", Position: replicaSample},
		Peers: []Peer{waiting("a-1", primarySample)}}
	if ok, why := Promotable(replicaFacts); ok {
		t.Fatalf("replica promotable although its primary holds all it holds: %s", why)
	}
	if d := Decide(replicaFacts); d.Action != Replica || d.Master != "a-1" {
		t.Fatalf("replica decided %s %s: %s", d.Action, d.Master, d.Reason)
	}

	// The primary sees the replica running, link down, not promotable.
	primaryFacts := Facts{Self: "a-1", Sentinels: allNameA1,
		Own:   OwnData{HasData: true, HadData: true, LastRole: "master", Position: primarySample},
		Peers: []Peer{restarted("a-2", "a-1", replicaSample, false)}}
	d := Decide(primaryFacts)
	if d.Action != Primary {
		t.Fatalf("primary decided %s: %s", d.Action, d.Reason)
	}
	// It holds at least what the replica's sample says.
	booted := BootPosition(primaryFacts, d)
	if booted.ReplID != "r" || booted.Offset != replicaSample.Offset || !booted.Head {
		t.Fatalf("boot position %+v, want r@%d as primary", booted, replicaSample.Offset)
	}

	// The primary runs in a new history begun from its data; the replica
	// compares its own sample with it and follows.
	running := Position{ReplID: "s", Offset: 40, Head: true, Exact: true, Base: &booted}
	replicaFacts.Peers = []Peer{{Name: "a-1", Reachable: true, Role: "master", Keys: 3,
		Manager: &PeerManager{Phase: "running", HasData: true, Position: running}}}
	if d := Decide(replicaFacts); d.Action != Replica || d.Master != "a-1" {
		t.Fatalf("replica refused the primary that holds its data: %s %s: %s", d.Action, d.Master, d.Reason)
	}
	if ok, why := Promotable(replicaFacts); ok {
		t.Fatalf("replica promotable before it synchronised with the primary: %s", why)
	}

	// Everything is killed again before the replica synchronised: the
	// primary's data holds the replica's, and it boots as primary again.
	sampled := running
	sampled.Exact = false
	again := Facts{Self: "a-1", Sentinels: allNameA1,
		Own:   OwnData{HasData: true, HadData: true, LastRole: "master", Position: sampled},
		Peers: []Peer{restarted("a-2", "a-1", replicaSample, false)}}
	if d := Decide(again); d.Action != Primary {
		t.Fatalf("primary stuck after a second full restart: %s: %s", d.Action, d.Reason)
	}
	replicaFacts.Peers = []Peer{waiting("a-1", sampled)}
	if ok, why := Promotable(replicaFacts); ok {
		t.Fatalf("replica promotable over the primary's newer history: %s", why)
	}

	// A primary that cannot load its data any more holds nothing for
	// sure: the replica's sample decides again.
	broken := waiting("a-1", primarySample)
	broken.Manager.DataError = "Bad file format reading the append only file"
	replicaFacts.Peers = []Peer{broken}
	if ok, why := Promotable(replicaFacts); !ok {
		t.Fatalf("replica not promotable although the primary cannot load its data: %s", why)
	}

	// Without an append-only file the primary's sample is all that is
	// known: the replica's higher one wins, as before.
	primaryFacts.Own.Position.Head = false
	if d := Decide(primaryFacts); d.Action == Primary {
		t.Fatalf("primary without an append-only file booted over a replica sampled later: %s", d.Reason)
	}
}
