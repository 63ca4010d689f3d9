package bootrole

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sentinel(master string) SentinelAnswer {
	if master == "" {
		return SentinelAnswer{Addr: "s", Reachable: true}
	}
	return SentinelAnswer{Addr: "s", Reachable: true, Known: true, Master: master, MasterAddr: master + ".h:6379"}
}

var downSentinel = SentinelAnswer{Addr: "s", Err: "connection refused"}

func replicaOf(name, master string, keys int64) Peer {
	return Peer{Name: name, Reachable: true, Role: "slave", Following: master, Keys: keys}
}

func primaryPeer(name string, keys int64) Peer {
	return Peer{Name: name, Reachable: true, Role: "master", Keys: keys}
}

func down(name string) Peer { return Peer{Name: name, Err: "connection refused"} }

func TestDecide(t *testing.T) {
	cases := map[string]struct {
		reason string
		facts  Facts
		want   Decision
	}{
		"new cluster, initial primary, peers empty": {
			reason: "sentinels know nothing yet; every instance is empty and reachable",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1",
				Sentinels: []SentinelAnswer{sentinel(""), sentinel(""), downSentinel},
				Peers:     []Peer{replicaOf("a-2", "a-1", 0), replicaOf("a-3", "a-1", 0)}},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"new cluster, replica follows initial primary": {
			facts: Facts{Self: "a-2", InitialPrimary: "a-1",
				Sentinels: []SentinelAnswer{downSentinel, downSentinel, downSentinel}},
			want: Decision{Action: Replica, Master: "a-1", Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"new cluster, peers not up yet: wait a bounded time": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Peers: []Peer{down("a-2"), down("a-3")},
				Waited: 2 * time.Second, MaxWait: 30 * time.Second},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"new cluster, peers still not up after the wait": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Peers: []Peer{down("a-2"), down("a-3")},
				Waited: 31 * time.Second, MaxWait: 30 * time.Second},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"single instance restarts with data": {
			reason: "no failover can happen: nobody else exists",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true, HadData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")}},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"killed primary, replicas hold data: wait for the failover": {
			reason: "plain Redis would come back as master and accept writes a full resync discards",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true, HadData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{replicaOf("a-2", "a-1", 10), replicaOf("a-3", "a-1", 10)},
				Waited:    time.Hour, MaxWait: time.Second},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"killed primary after the failover: follow the new primary": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true},
				Sentinels: []SentinelAnswer{sentinel("a-2"), sentinel("a-2"), sentinel("a-1")},
				Peers:     []Peer{primaryPeer("a-2", 10), replicaOf("a-3", "a-2", 10)}},
			want: Decision{Action: Replica, Master: "a-2", MasterAddr: "a-2.h:6379", Recorded: "a-2", RecordedBy: BySentinels},
		},
		"empty primary (no persistence), replicas hold data": {
			reason: "an empty instance never becomes primary over replicas holding data",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HadData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{replicaOf("a-2", "a-1", 5), down("a-3")},
				Waited:    time.Hour, MaxWait: time.Second},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"empty primary that held data, peers unreachable past the wait": {
			reason: "an unreachable peer may hold the only copy",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HadData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{down("a-2"), down("a-3")},
				Waited:    time.Hour, MaxWait: time.Second},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"primary with data, peers unreachable past the wait": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true, HadData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{down("a-2"), replicaOf("a-3", "a-1", 0)},
				Waited:    time.Hour, MaxWait: time.Second},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"everyone empty, all reachable": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HadData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{replicaOf("a-2", "a-1", 0), replicaOf("a-3", "a-1", 0)}},
			want: Decision{Action: Primary, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"a peer still loading counts as holding data": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1",
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{{Name: "a-2", Reachable: true, Role: "slave", Following: "a-1", Loading: true}}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"recorded primary, but another instance is master": {
			reason: "never two primaries",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-1"), sentinel("a-1")},
				Peers:     []Peer{primaryPeer("a-2", 0)}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: BySentinels},
		},
		"sentinels know nothing, initial primary, another instance is master": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true},
				Peers: []Peer{primaryPeer("a-2", 4), replicaOf("a-3", "a-2", 4)}},
			want: Decision{Action: Replica, Master: "a-2", Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"sentinels know nothing, replicas follow someone else": {
			reason: "the initial record is out of date",
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true},
				Peers: []Peer{replicaOf("a-2", "a-3", 0), down("a-3")}},
			want: Decision{Action: Wait, Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"replica, sentinels know nothing, a peer is master": {
			facts: Facts{Self: "a-3", InitialPrimary: "a-1", Peers: []Peer{down("a-1"), primaryPeer("a-2", 3)}},
			want:  Decision{Action: Replica, Master: "a-2", Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"replica, sentinels know nothing, two masters": {
			facts: Facts{Self: "a-3", InitialPrimary: "a-1", Peers: []Peer{primaryPeer("a-1", 0), primaryPeer("a-2", 3)}},
			want:  Decision{Action: Wait, Recorded: "a-1", RecordedBy: ByInitialRecord},
		},
		"sentinels split, no majority": {
			facts: Facts{Self: "a-1", InitialPrimary: "a-1", Own: OwnData{HasData: true},
				Sentinels: []SentinelAnswer{sentinel("a-1"), sentinel("a-2"), downSentinel}},
			want: Decision{Action: Wait},
		},
		"one sentinel of three knows the master": {
			reason: "only a majority counts; the others may be behind",
			facts: Facts{Self: "a-2", InitialPrimary: "a-1",
				Sentinels: []SentinelAnswer{sentinel("a-3"), downSentinel, downSentinel}},
			want: Decision{Action: Wait},
		},
		"sentinel majority names a foreign address": {
			reason: "never follow another RedisFailover's primary",
			facts: Facts{Self: "a-2", InitialPrimary: "a-1", Sentinels: []SentinelAnswer{
				{Reachable: true, Known: true, MasterAddr: "10.0.0.9:6379"},
				{Reachable: true, Known: true, MasterAddr: "10.0.0.9:6379"}, downSentinel}},
			want: Decision{Action: Wait, RecordedBy: BySentinels},
		},
		"nothing recorded at all": {
			facts: Facts{Self: "a-2"},
			want:  Decision{Action: Wait},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := Decide(c.facts)
			if got.Reason == "" {
				t.Error("the decision gives no reason")
			}
			if diff := cmp.Diff(c.want, got, cmpopts.IgnoreFields(Decision{}, "Reason")); diff != "" {
				t.Errorf("%s\nDecide() (-want +got):\n%s\nreason: %s", c.reason, diff, got.Reason)
			}
		})
	}
}

// TestNeverPrimaryOverData checks safety rule 1 over many combinations: an
// instance never boots as primary while a reachable peer holds data (empty
// or not: that peer can be failed over to),
// and no instance boots as primary while another reports role master.
func TestNeverPrimaryOverData(t *testing.T) {
	peerKinds := []Peer{down("p"), replicaOf("p", "a-1", 0), replicaOf("p", "a-1", 7), primaryPeer("p", 0), primaryPeer("p", 7),
		replicaOf("p", "a-2", 7), {Name: "p", Reachable: true, Role: "slave", Loading: true}}
	sentinelSets := [][]SentinelAnswer{nil, {sentinel("a-1"), sentinel("a-1"), sentinel("a-1")}, {sentinel(""), downSentinel, downSentinel}}
	for _, own := range []OwnData{{}, {HasData: true}, {HadData: true}, {HasData: true, HadData: true}} {
		for _, ss := range sentinelSets {
			for _, p1 := range peerKinds {
				for _, p2 := range peerKinds {
					for _, waited := range []time.Duration{0, time.Hour} {
						a, b := p1, p2
						a.Name, b.Name = "a-2", "a-3"
						f := Facts{Self: "a-1", InitialPrimary: "a-1", Own: own, Sentinels: ss,
							Peers: []Peer{a, b}, Waited: waited, MaxWait: time.Minute}
						d := Decide(f)
						if d.Action != Primary {
							continue
						}
						for _, p := range f.Peers {
							if p.Reachable && p.Role == "master" {
								t.Errorf("primary while %s is master: %+v -> %s", p.Name, f, d.Reason)
							}
							if p.HoldsData() {
								t.Errorf("primary while %s holds data (a failover can happen): %+v -> %s", p.Name, f, d.Reason)
							}
						}
					}
				}
			}
		}
	}
}
