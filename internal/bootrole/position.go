package bootrole

import "fmt"

// Position says how far a data set has come in a replication history:
// Redis's replication id and offset, the history it continued from
// (replid2 up to second_repl_offset-1, as Redis reports after a promotion
// or a restart from an RDB), and, when Redis began a new history at offset
// 0 from data loaded off disk (a primary booted from an append-only file
// gets a fresh id), the position that data had: Base.
//
// Two positions can be ordered only when one history contains the other;
// otherwise they are of different histories (they diverged, or nothing
// links them) and no order is claimed.
type Position struct {
	ReplID string `json:"replID,omitempty"`
	Offset int64  `json:"offset"`
	// ReplID2 and SecondOffset: the data holds ReplID2's history up to
	// SecondOffset-1, on the same offset scale as Offset.
	ReplID2      string `json:"replID2,omitempty"`
	SecondOffset int64  `json:"secondOffset,omitempty"`
	// Base is the position of the data ReplID started from at offset 0.
	Base *Position `json:"base,omitempty"`
	// Exact is true when the position is known to match the data on disk
	// (a clean shutdown, an RDB's own header, or a running server); false
	// for the last position the manager sampled before a crash.
	Exact bool `json:"exact,omitempty"`
	// Head: the data set was the primary of ReplID's history and appended
	// every write to its append-only file before sending it to a replica,
	// so it holds every part of that history any replica holds, whatever
	// offset was last sampled. A replica's sample can be newer than its
	// primary's (the manager samples at most once a second), which must
	// not make the primary's data look older than the replica's.
	Head bool `json:"head,omitempty"`
}

// Known tells whether anything is known about the position.
func (p Position) Known() bool { return p.ReplID != "" }

func (p Position) String() string {
	if !p.Known() {
		return "unknown"
	}
	id := p.ReplID
	if len(id) > 8 {
		id = id[:8]
	}
	if p.Head && !p.Exact {
		return fmt.Sprintf("%s@%d+ as primary", id, p.Offset)
	}
	return fmt.Sprintf("%s@%d", id, p.Offset)
}

// Order is the outcome of comparing two positions.
type Order int

const (
	// Unordered: different histories, or nothing known.
	Unordered Order = iota
	Older
	Same
	Newer
)

func (o Order) String() string {
	return [...]string{"of another history", "older", "as recent", "newer"}[o]
}

// Links are what the positions seen in one decision say about how
// histories continue: a history id that began at offset 0 from data at a
// position of another history (Base), and a history id that continued
// another one on the same offset scale (ReplID2 up to SecondOffset-1). A
// replica that synced with a primary booted from an append-only file shares
// the primary's id but not its Base: the links let its position be compared
// with positions of the older history too.
type Links struct {
	base   map[string]Position
	native map[string]Position // ReplID = replid2, Offset = SecondOffset-1
}

// Link says how history ID continued another: it holds Parent's history up
// to offset UpTo, and its own offsets go on from there (Redis's replid2 and
// second_repl_offset after a promotion or a restart from an RDB) or, with
// Reset, start again at 0 (a history Redis began afresh from data loaded
// off disk). Instance managers remember the links they saw and publish
// them, because an RDB's header names only the history it was written in.
type Link struct {
	Parent string `json:"parent"`
	UpTo   int64  `json:"upTo"`
	Reset  bool   `json:"reset,omitempty"`
}

// Put records that history id continued as k says (a link already known
// for id is kept).
func (l *Links) Put(id string, k Link) {
	if id == "" || k.Parent == "" || id == k.Parent {
		return
	}
	m := l.native
	if k.Reset {
		m = l.base
	}
	if _, ok := l.native[id]; ok {
		return
	}
	if _, ok := l.base[id]; ok {
		return
	}
	m[id] = Position{ReplID: k.Parent, Offset: k.UpTo}
}

// PutAll records every link of m.
func (l *Links) PutAll(m map[string]Link) {
	for id, k := range m {
		l.Put(id, k)
	}
}

// All returns every link known.
func (l *Links) All() map[string]Link {
	out := make(map[string]Link, len(l.native)+len(l.base))
	for id, p := range l.native {
		out[id] = Link{Parent: p.ReplID, UpTo: p.Offset}
	}
	for id, p := range l.base {
		out[id] = Link{Parent: p.ReplID, UpTo: p.Offset, Reset: true}
	}
	return out
}

// NewLinks collects the links of the given positions.
func NewLinks(ps ...Position) *Links {
	l := &Links{base: map[string]Position{}, native: map[string]Position{}}
	for _, p := range ps {
		l.Add(p)
	}
	return l
}

// Add records what p says about its histories.
func (l *Links) Add(p Position) {
	for i := 0; i < 16 && p.Known(); i++ {
		if p.ReplID2 != "" && p.SecondOffset > 0 {
			l.Put(p.ReplID, Link{Parent: p.ReplID2, UpTo: p.SecondOffset - 1})
		}
		if p.Base == nil || !p.Base.Known() {
			return
		}
		l.Put(p.ReplID, Link{Parent: p.Base.ReplID, UpTo: p.Base.Offset, Reset: true})
		p = *p.Base
	}
}

// reach is one history a data set holds, up to an offset.
type reach struct {
	id   string
	upTo int64
	// beyond: the data went on past upTo in a later history.
	beyond bool
	// promoted: the data left this history by a promotion (a native
	// link: Sentinel's failover or switchover, or a forced primary), not
	// by a restart from disk.
	promoted bool
}

// histories lists the histories p's data holds, its own first.
func (l *Links) histories(p Position) []reach {
	out := []reach{{id: p.ReplID, upTo: p.Offset}}
	seen := map[string]bool{p.ReplID: true}
	for i := 0; i < len(out) && i < 64; i++ {
		h := out[i]
		if n, ok := l.native[h.id]; ok && !seen[n.ReplID] {
			seen[n.ReplID] = true
			out = append(out, reach{id: n.ReplID, upTo: n.Offset, beyond: h.beyond || h.upTo > n.Offset, promoted: true})
		}
		if b, ok := l.base[h.id]; ok && !seen[b.ReplID] {
			seen[b.ReplID] = true
			out = append(out, reach{id: b.ReplID, upTo: b.Offset, beyond: h.beyond || h.upTo > 0})
		}
	}
	return out
}

// Compare orders a against b: Newer when a's data holds everything b's does
// and more, Same when they hold the same, Older when b is newer, Unordered
// when neither history contains the other. a's and b's own links are added.
// Within one history, the data of its primary that kept every write in an
// append-only file (Head) holds all a replica of it holds, even when the
// replica's sampled offset is the higher one.
//
// One case of two histories that diverged is ordered: b stayed in history H
// and went on past the point where a's data left H by a promotion, and a
// went on after it. The promotion decided that a's line is the primary's
// (Sentinel promotes a replica and turns the old primary into its replica,
// which then drops what it wrote past that point): a is Newer, as it would
// be had nothing restarted. This is the old primary cut off by a network
// partition, failed over, and restarted before it rejoined. A data set that
// left H by a restart from disk (a new history at offset 0) is not ordered
// that way: nothing but that restart chose it.
func (l *Links) Compare(a, b Position) Order {
	if !a.Known() || !b.Known() {
		return Unordered
	}
	l.Add(a)
	l.Add(b)
	if a.ReplID == b.ReplID {
		switch {
		case a.Offset <= b.Offset && a.holdsAllOf(b):
			return Newer
		case a.Offset >= b.Offset && b.holdsAllOf(a):
			return Older
		case a.Offset > b.Offset:
			return Newer
		case a.Offset < b.Offset:
			return Older
		}
		return Same
	}
	if o, ok := contains(l.histories(a), b); ok {
		return o
	}
	if o, ok := contains(l.histories(b), a); ok {
		switch o {
		case Newer:
			return Older
		case Older:
			return Newer
		}
		return o
	}
	return Unordered
}

// holdsAllOf: p's offset is a stale sample of the primary of the history
// that o is in as a replica, so p holds all o holds.
func (p Position) holdsAllOf(o Position) bool {
	return p.Head && !p.Exact && !o.Head && p.ReplID == o.ReplID
}

// contains says whether the histories hs (of a data set A) include b's
// current history, and how A then compares with b.
func contains(hs []reach, b Position) (Order, bool) {
	for _, h := range hs[1:] {
		if h.id != b.ReplID {
			continue
		}
		switch {
		case b.Offset > h.upTo && !h.beyond:
			// A holds H up to upTo and nothing since: b holds more.
			return Older, true
		case b.Offset > h.upTo && h.promoted:
			// b went on in H after A's line was promoted out of it: the
			// promotion superseded b's tail.
			return Newer, true
		case b.Offset > h.upTo:
			// b went on in H after A restarted from disk out of it.
			return Unordered, true
		case b.Offset == h.upTo && !h.beyond:
			return Same, true
		}
		return Newer, true
	}
	return Unordered, false
}
