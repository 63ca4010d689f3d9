package controller

import (
	"strings"
	"testing"

	"github.com/haredis/haredis/internal/sentinel"
)

// TestHandOverBlocked: the sentinels that join take over only when every
// one of them monitors the master, names the primary the set in charge
// names, knows every replica and peer, and neither set is failing over.
func TestHandOverBlocked(t *testing.T) {
	const primary = "app-1.app-headless.ns.svc.cluster.local:6379"
	inCharge := func() *state {
		st := &state{}
		st.view.primary, st.view.addr, st.view.asked, st.view.answered = "app-1", primary, 3, 3
		st.view.answers = []sentinel.Master{{Sentinel: "d1", Addr: primary}, {Sentinel: "d2", Addr: primary}, {Sentinel: "d3", Addr: primary}}
		return st
	}
	joining := func() []sentinel.Master {
		return []sentinel.Master{
			{Sentinel: "p1", Addr: primary, Replicas: 1, Peers: 2},
			{Sentinel: "p2", Addr: primary, Replicas: 1, Peers: 2},
			{Sentinel: "p3", Addr: primary, Replicas: 1, Peers: 2},
		}
	}
	if why := handOverBlocked(inCharge(), joining(), 3, 2); why != "" {
		t.Fatalf("a complete, agreeing set is held back: %s", why)
	}
	cases := map[string]struct {
		st      func(*state)
		answers func([]sentinel.Master) []sentinel.Master
		want    string
	}{
		"no majority in charge":   {st: func(s *state) { s.view.primary = "" }, want: "do not all answer"},
		"a silent sentinel":       {st: func(s *state) { s.view.answered = 2 }, want: "do not all answer"},
		"in charge failing over":  {st: func(s *state) { s.view.answers[1].InFailover = true }, want: "in charge are failing over"},
		"a joining one missing":   {answers: func(a []sentinel.Master) []sentinel.Master { return a[:2] }, want: "2 of 3 joining"},
		"one does not monitor":    {answers: func(a []sentinel.Master) []sentinel.Master { a[0].Unknown, a[0].Addr = true, ""; return a }, want: "does not monitor"},
		"one names another":       {answers: func(a []sentinel.Master) []sentinel.Master { a[2].Addr = "app-2.x:6379"; return a }, want: "names another primary"},
		"one failing over":        {answers: func(a []sentinel.Master) []sentinel.Master { a[1].InFailover = true; return a }, want: "is failing over"},
		"a replica not known yet": {answers: func(a []sentinel.Master) []sentinel.Master { a[1].Replicas = 0; return a }, want: "every replica and peer"},
		"a peer not known yet":    {answers: func(a []sentinel.Master) []sentinel.Master { a[2].Peers = 1; return a }, want: "every replica and peer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st, answers := inCharge(), joining()
			if tc.st != nil {
				tc.st(st)
			}
			if tc.answers != nil {
				answers = tc.answers(answers)
			}
			if why := handOverBlocked(st, answers, 3, 2); !strings.Contains(why, tc.want) {
				t.Errorf("got %q, want it to say %q", why, tc.want)
			}
		})
	}
}

// TestJoinersToSet: joining sentinels that do not know the master or name
// another primary are set to watch the primary in charge, never while the
// set in charge has no primary or fails over.
func TestJoinersToSet(t *testing.T) {
	const primary, other = "app-1.h:6379", "app-2.h:6379"
	st := &state{}
	st.view.primary, st.view.addr = "app-1", primary
	st.view.answers = []sentinel.Master{{Sentinel: "d1", Addr: primary}}
	answers := []sentinel.Master{{Sentinel: "p1", Addr: primary}, {Sentinel: "p2", Unknown: true}, {Sentinel: "p3", Addr: other}, {Sentinel: "p4"}}
	if got := joinersToSet(st, answers); strings.Join(got, ",") != "p2,p3" {
		t.Errorf("got %v, want p2 (unknown) and p3 (another primary); p4 did not answer", got)
	}
	st.view.answers[0].InFailover = true
	if got := joinersToSet(st, answers); len(got) != 0 {
		t.Errorf("set %v while the set in charge fails over", got)
	}
	st.view.answers[0].InFailover, st.view.primary = false, ""
	if got := joinersToSet(st, answers); len(got) != 0 {
		t.Errorf("set %v without a primary in charge", got)
	}
}
