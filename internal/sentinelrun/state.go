package sentinelrun

import (
	"bufio"
	"net"
	"strconv"
	"strings"
)

// Previous is what a sentinel remembered in the sentinel.conf it left in the
// run directory (Sentinel rewrites the file with its state: epochs, votes,
// the current primary). A container restart in the same pod finds it there;
// a new pod has none.
type Previous struct {
	// Found says the file monitored the master of this RedisFailover.
	Found bool
	// Host and Port are the primary the file monitored.
	Host string
	Port int
	// CurrentEpoch is Sentinel's global epoch; LeaderEpoch the epoch of the
	// last vote for a failover leader it cast for this master; ConfigEpoch
	// the epoch of the failover that made Host:Port the primary.
	CurrentEpoch, LeaderEpoch, ConfigEpoch uint64
}

// ParsePrevious reads the state a previous sentinel.conf holds for
// masterName. A file for another master, or none, gives Found false: the
// sentinel then starts with no memory, as a new pod does.
func ParsePrevious(conf, masterName string) Previous {
	var p, none Previous
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		f := fields(sc.Text())
		if len(f) < 2 || !strings.EqualFold(f[0], "sentinel") {
			continue
		}
		switch {
		case strings.EqualFold(f[1], "monitor") && len(f) == 6 && f[2] == masterName:
			port, err := strconv.Atoi(f[4])
			if err != nil {
				return none
			}
			p.Found, p.Host, p.Port = true, f[3], port
		case strings.EqualFold(f[1], "current-epoch") && len(f) == 3:
			p.CurrentEpoch = epoch(f[2])
		case strings.EqualFold(f[1], "leader-epoch") && len(f) == 4 && f[2] == masterName:
			p.LeaderEpoch = epoch(f[3])
		case strings.EqualFold(f[1], "config-epoch") && len(f) == 4 && f[2] == masterName:
			p.ConfigEpoch = epoch(f[3])
		}
	}
	if !p.Found {
		return none
	}
	return p
}

// Carry returns the epochs a sentinel restarted on this file must keep when
// it now monitors host:port.
//
// The current epoch and the leader epoch are its voting memory: without them
// a sentinel restarted during an election may vote a second time in an epoch
// it already voted in, and two leaders of one epoch can promote two replicas.
// They are carried whatever it monitors now.
//
// The config epoch is not a memory of the sentinel but a property of one
// configuration: the epoch of the failover that made that primary. Sentinel
// advertises it with the primary's address in its hello messages, and a peer
// that holds an older config epoch switches to the advertised address. Kept
// with the primary it belongs to, it stops a stale peer from pulling this
// sentinel back to an older primary and lets this sentinel correct that
// peer. Paired with another primary (the peers now name one that came later,
// or none answered and instance.json's may be stale) it would make the new
// address look as recent as the old configuration, and pull every peer that
// is behind onto an address that may be wrong. So it is carried only when
// the primary is the one the file monitored; otherwise it starts at 0, which
// overrides no peer and lets any peer's newer hello correct this sentinel.
func (p Previous) Carry(host string, port int) (current, leader, config uint64) {
	if !p.Found {
		return 0, 0, 0
	}
	if port == p.Port && sameHost(host, p.Host) {
		config = p.ConfigEpoch
	}
	return p.CurrentEpoch, p.LeaderEpoch, config
}

// sameHost compares host names as DNS does (case, trailing dot) and IP
// addresses by value.
func sameHost(a, b string) bool {
	norm := func(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }
	if ia, ib := net.ParseIP(a), net.ParseIP(b); ia != nil && ib != nil {
		return ia.Equal(ib)
	}
	return norm(a) == norm(b)
}

func epoch(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// fields splits a configuration line as Sentinel writes it: words separated
// by blanks, a word optionally in double quotes (dir "/tmp").
func fields(line string) []string {
	f := strings.Fields(line)
	for i, w := range f {
		if len(w) >= 2 && w[0] == '"' && w[len(w)-1] == '"' {
			f[i] = w[1 : len(w)-1]
		}
	}
	return f
}
