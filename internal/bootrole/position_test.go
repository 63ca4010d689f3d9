package bootrole

import "testing"

func TestCompare(t *testing.T) {
	r1 := func(off int64) Position { return Position{ReplID: "r1", Offset: off} }
	// r2 began when a replica of r1 was promoted at r1's offset 100 (Redis
	// keeps r1 as replid2, second_repl_offset 101).
	r2 := func(off int64) Position { return Position{ReplID: "r2", Offset: off, ReplID2: "r1", SecondOffset: 101} }
	// r3 began at offset 0 when a primary booted from an append-only file
	// holding r1 up to 80.
	base80 := r1(80)
	r3 := func(off int64) Position { return Position{ReplID: "r3", Offset: off, Base: &base80} }
	cases := map[string]struct {
		a, b  Position
		links []Position
		want  Order
	}{
		"same history, ahead":               {a: r1(10), b: r1(5), want: Newer},
		"same history, behind":              {a: r1(5), b: r1(10), want: Older},
		"same history, equal":               {a: r1(7), b: r1(7), want: Same},
		"unknown":                           {a: Position{}, b: r1(1), want: Unordered},
		"promoted, old replica behind":      {a: r2(150), b: r1(90), want: Newer},
		"promoted, old replica at switch":   {a: r2(150), b: r1(100), want: Newer},
		"promoted, nothing since":           {a: r2(100), b: r1(100), want: Same},
		"old primary wrote past the switch": {a: r2(150), b: r1(120), want: Newer},
		"promoted, nothing since, old primary wrote past the switch": {a: r2(100), b: r1(120), want: Older},
		"reverse: old replica vs promoted":                           {a: r1(90), b: r2(150), want: Older},
		"booted from AOF, nothing since":                             {a: r3(0), b: r1(80), want: Same},
		"booted from AOF, wrote since":                               {a: r3(5), b: r1(80), want: Newer},
		"booted from AOF, peer had more":                             {a: r3(5), b: r1(90), want: Unordered},
		"booted from AOF, peer had less":                             {a: r3(0), b: r1(60), want: Newer},
		"booted from AOF, nothing since, peer had more":              {a: r3(0), b: r1(90), want: Older},
		"replica of the AOF primary, link learnt": {a: Position{ReplID: "r3", Offset: 40}, b: r1(70),
			links: []Position{r3(50)}, want: Newer},
		"replica of the AOF primary, no link":          {a: Position{ReplID: "r3", Offset: 40}, b: r1(70), want: Unordered},
		"two branches of one history":                  {a: r2(150), b: Position{ReplID: "r4", Offset: 130, ReplID2: "r1", SecondOffset: 101}, want: Unordered},
		"primary's sample behind its replica's":        {a: Position{ReplID: "r1", Offset: 90, Head: true}, b: r1(100), want: Newer},
		"primary's sample equal to its replica's":      {a: Position{ReplID: "r1", Offset: 100, Head: true}, b: r1(100), want: Newer},
		"primary's sample ahead of its replica's":      {a: Position{ReplID: "r1", Offset: 110, Head: true}, b: r1(100), want: Newer},
		"primary's exact position behind a replica's":  {a: Position{ReplID: "r1", Offset: 90, Head: true, Exact: true}, b: r1(100), want: Older},
		"primary's sample, replica of a later history": {a: Position{ReplID: "r1", Offset: 90, Head: true}, b: r2(150), want: Older},
		"chain: promoted after an AOF boot": {a: Position{ReplID: "r5", Offset: 30, ReplID2: "r3", SecondOffset: 21}, b: r1(80),
			links: []Position{r3(20)}, want: Newer},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l := NewLinks(c.links...)
			if got := l.Compare(c.a, c.b); got != c.want {
				t.Errorf("Compare(%+v, %+v) = %s, want %s", c.a, c.b, got, c.want)
			}
			// The order is antisymmetric.
			back := NewLinks(c.links...).Compare(c.b, c.a)
			want := map[Order]Order{Newer: Older, Older: Newer, Same: Same, Unordered: Unordered}[c.want]
			if back != want {
				t.Errorf("Compare(b, a) = %s, want %s", back, want)
			}
		})
	}
}

// TestCompareWithPublishedLinks: RDB headers name only the history they
// were written in; the links the managers saw while running order them.
func TestCompareWithPublishedLinks(t *testing.T) {
	// r0 -> r1 (promotion at 100) -> r2 (promotion at 300).
	known := map[string]Link{"r1": {Parent: "r0", UpTo: 100}, "r2": {Parent: "r1", UpTo: 300}}
	a := Position{ReplID: "r0", Offset: 90}  // an old snapshot
	b := Position{ReplID: "r2", Offset: 350} // a recent one
	if got := NewLinks().Compare(b, a); got != Unordered {
		t.Errorf("without links: %s", got)
	}
	l := NewLinks()
	l.PutAll(known)
	if got := l.Compare(b, a); got != Newer {
		t.Errorf("with links: %s, want newer", got)
	}
	if got := l.All(); len(got) != 2 || got["r2"] != known["r2"] {
		t.Errorf("All() = %v", got)
	}
}
