// Package quorum is the one definition of a majority of sentinels. There
// are two questions and they have different answers:
//
//   - a majority of all configured sentinels (Majority, Reached, Named):
//     the number that can authorise a failover, so a primary this many name
//     is the one Sentinel's election stands behind, and two different
//     primaries can never both have it. Every decision that makes an
//     instance primary or follows one uses this.
//   - more than half of those that answered (NamedByMostAnswering): a
//     weaker test that only a starting sentinel uses, to pick whom to
//     monitor from its peers before it learns the real primary from them.
//
// The package has no dependencies beyond the standard library.
package quorum

import "sort"

// Majority is the number of sentinels, out of configured, that make a
// majority of all of them: configured/2 + 1. It is also the quorum haredis
// configures on its sentinels.
func Majority(configured int) int { return configured/2 + 1 }

// Reached reports whether agree sentinels are a majority of all configured.
func Reached(agree, configured int) bool { return configured > 0 && agree >= Majority(configured) }

// Named returns the value (a primary's address) that a majority of all
// configured sentinels name in votes (value: how many sentinels name it);
// ok is false when none has a majority. Empty values are not counted.
func Named(votes map[string]int, configured int) (value string, ok bool) {
	for _, v := range sortedKeys(votes) {
		if v != "" && Reached(votes[v], configured) {
			return v, true
		}
	}
	return "", false
}

// NamedByMostAnswering returns the value more than half of the answers
// give; an empty answer is a sentinel that did not answer and is not
// counted. ok is false when none answered or no value has more than half.
func NamedByMostAnswering(answers []string) (value string, ok bool) {
	votes := map[string]int{}
	answered := 0
	for _, a := range answers {
		if a == "" {
			continue
		}
		answered++
		votes[a]++
	}
	for _, v := range sortedKeys(votes) {
		if 2*votes[v] > answered {
			return v, true
		}
	}
	return "", false
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
