package proxy

import (
	"fmt"
	"io"
	"sync/atomic"
)

type metrics struct {
	accepted       atomic.Uint64
	active         atomic.Int64
	held           atomic.Int64
	primaryChanges atomic.Uint64
	moved          atomic.Uint64
	closedOnChange atomic.Uint64
	dialErrors     atomic.Uint64
	pauses         atomic.Uint64
	pauseTimeouts  atomic.Uint64
}

// WriteMetrics writes the proxy's counters in the Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	for _, m := range []struct {
		name, kind, help string
		v                any
	}{
		{"haredis_proxy_connections_accepted_total", "counter", "Client connections accepted.", s.m.accepted.Load()},
		{"haredis_proxy_connections_active", "gauge", "Client connections open.", s.m.active.Load()},
		{"haredis_proxy_connections_held", "gauge", "Client connections holding a command during a pause.", s.m.held.Load()},
		{"haredis_proxy_commands_total", "counter", "Commands forwarded to the primary.", s.commands()},
		{"haredis_proxy_primary_changes_total", "counter", "Changes of the primary.", s.m.primaryChanges.Load()},
		{"haredis_proxy_connections_moved_total", "counter", "Client connections carried to a new upstream connection.", s.m.moved.Load()},
		{"haredis_proxy_connections_ended_on_change_total", "counter", "Client connections ended because their session could not be carried.", s.m.closedOnChange.Load()},
		{"haredis_proxy_upstream_dial_errors_total", "counter", "Failed connections to the primary.", s.m.dialErrors.Load()},
		{"haredis_proxy_pauses_total", "counter", "Pauses for planned switchovers.", s.m.pauses.Load()},
		{"haredis_proxy_pause_timeouts_total", "counter", "Pauses that ended by reaching their maximum duration.", s.m.pauseTimeouts.Load()},
		{"haredis_proxy_paused", "gauge", "1 while commands are held.", b2i(s.Paused())},
		{"haredis_proxy_primary_known", "gauge", "1 when the proxy has a confirmed primary.", b2i(s.Ready())},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", m.name, m.help, m.name, m.kind, m.name, m.v)
	}
}

func (s *Server) commands() uint64 {
	var n uint64
	for _, l := range s.eachLoop() {
		n += l.commands.Load()
	}
	return n
}
