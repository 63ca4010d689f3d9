package quorum

import "testing"

func TestMajority(t *testing.T) {
	for configured, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 7: 4} {
		if got := Majority(configured); got != want {
			t.Errorf("Majority(%d) = %d, want %d", configured, got, want)
		}
	}
	if Reached(0, 0) {
		t.Error("Reached(0, 0): no sentinel configured is no majority")
	}
	if !Reached(2, 3) || Reached(1, 3) || Reached(2, 4) || !Reached(3, 4) {
		t.Error("Reached disagrees with Majority")
	}
}

func TestNamedCountsAllConfigured(t *testing.T) {
	cases := []struct {
		name       string
		votes      map[string]int
		configured int
		want       string
		ok         bool
	}{
		{"two of three", map[string]int{"a": 2, "b": 1}, 3, "a", true},
		{"one of three, the others silent", map[string]int{"a": 1}, 3, "", false},
		{"two of five", map[string]int{"a": 2, "b": 1}, 5, "", false},
		{"split four", map[string]int{"a": 2, "b": 2}, 4, "", false},
		{"empty votes are not a value", map[string]int{"": 3}, 3, "", false},
	}
	for _, c := range cases {
		got, ok := Named(c.votes, c.configured)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: Named = %q %v, want %q %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestNamedByMostAnsweringIgnoresSilence(t *testing.T) {
	cases := []struct {
		name    string
		answers []string
		want    string
		ok      bool
	}{
		{"one of two answered", []string{"a", ""}, "a", true},
		{"split", []string{"a", "b"}, "", false},
		{"two of three", []string{"a", "b", "a"}, "a", true},
		{"none answered", []string{"", ""}, "", false},
	}
	for _, c := range cases {
		got, ok := NamedByMostAnswering(c.answers)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: NamedByMostAnswering = %q %v, want %q %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
