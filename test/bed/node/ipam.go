package node

import (
	"net/netip"
	"sync"
)

// ipam hands out the pod addresses of one node's CIDR; the first address
// belongs to the bridge. Freed addresses are reused last, so a new pod rarely
// gets the address of a pod that just went away.
type ipam struct {
	mu     sync.Mutex
	prefix netip.Prefix
	next   netip.Addr
	used   map[netip.Addr]bool
}

func newIPAM(prefix netip.Prefix) *ipam {
	first := prefix.Masked().Addr().Next().Next()
	return &ipam{prefix: prefix, next: first, used: map[netip.Addr]bool{}}
}

func (a *ipam) allocate() (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	gw := a.prefix.Masked().Addr().Next()
	for range 1 << (32 - a.prefix.Bits()) {
		cand := a.next
		a.next = a.next.Next()
		if !a.prefix.Contains(a.next) || isBroadcast(a.prefix, a.next) {
			a.next = gw.Next()
		}
		if !a.used[cand] && a.prefix.Contains(cand) && cand != gw && !isBroadcast(a.prefix, cand) {
			a.used[cand] = true
			return cand, true
		}
	}
	return netip.Addr{}, false
}

func (a *ipam) release(ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.used, ip)
}

func isBroadcast(p netip.Prefix, ip netip.Addr) bool {
	return !p.Contains(ip.Next())
}
