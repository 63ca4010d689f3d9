package sentinel

import "testing"

func TestMostAnswering(t *testing.T) {
	cases := map[string]struct {
		answers []Answer
		want    string
		ok      bool
	}{
		"none answered": {answers: []Answer{{Sentinel: "s1"}, {Sentinel: "s2"}}},
		"one answered":  {answers: []Answer{{Addr: "a:6379"}, {}}, want: "a:6379", ok: true},
		"agree":         {answers: []Answer{{Addr: "b:6379"}, {Addr: "b:6379"}}, want: "b:6379", ok: true},
		"split":         {answers: []Answer{{Addr: "a:6379"}, {Addr: "b:6379"}}},
		"two of three":  {answers: []Answer{{Addr: "a:6379"}, {Addr: "b:6379"}, {Addr: "b:6379"}}, want: "b:6379", ok: true},
		"two of four":   {answers: []Answer{{Addr: "a:6379"}, {Addr: "a:6379"}, {Addr: "b:6379"}, {Addr: "b:6379"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := MostAnswering(tc.answers)
			if got != tc.want || ok != tc.ok {
				t.Errorf("MostAnswering = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestNamedByMajorityCountsSilentSentinels(t *testing.T) {
	cases := map[string]struct {
		answers    []Master
		configured int
		want       string
		ok         bool
	}{
		"two of three agree":       {answers: []Master{{Addr: "a:1"}, {Addr: "a:1"}, {Addr: "b:1"}}, configured: 3, want: "a:1", ok: true},
		"two answer of five":       {answers: []Master{{Addr: "a:1"}, {Addr: "a:1"}}, configured: 5},
		"three of five answer":     {answers: []Master{{Addr: "a:1"}, {Addr: "a:1"}, {Addr: "a:1"}}, configured: 5, want: "a:1", ok: true},
		"unknown master not named": {answers: []Master{{Unknown: true}, {Addr: "a:1"}, {Unknown: true}}, configured: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := NamedByMajority(tc.answers, tc.configured)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NamedByMajority = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
