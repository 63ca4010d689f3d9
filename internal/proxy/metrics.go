package proxy

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/haredis/haredis/internal/metrics"
)

// stats are the values behind the proxy's metrics.
type stats struct {
	accepted       atomic.Uint64
	rejected       atomic.Uint64 // over MaxClients
	limitClosed    atomic.Uint64 // over a limit on commands, or not authenticated in time
	refused        atomic.Uint64 // commands the proxy never forwards
	active         atomic.Int64
	held           atomic.Int64
	primaryChanges atomic.Uint64
	moved          atomic.Uint64
	closedOnChange atomic.Uint64
	dialErrors     atomic.Uint64
	pauses         atomic.Uint64
	pauseTimeouts  atomic.Uint64
	// TLS handshakes of clients that failed or did not end in time
	// (plaintext clients among them).
	tlsHandshakeErrors atomic.Uint64
}

// metricsHandler serves the proxy's counters and gauges, each read when
// scraped, from a registry of this handler's own.
func (s *Server) metricsHandler() http.Handler {
	counter := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, v)
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	return metrics.Handler(
		counter("haredis_proxy_connections_accepted_total", "Client connections accepted.", func() float64 { return float64(s.m.accepted.Load()) }),
		counter("haredis_proxy_connections_rejected_total", "Client connections refused because the proxy had its maximum number of clients.", func() float64 { return float64(s.m.rejected.Load()) }),
		counter("haredis_proxy_commands_refused_total", "Commands the proxy refused to forward (REPLICAOF, FAILOVER, CONFIG SET, SHUTDOWN and the like): they would act behind Sentinel and the operator.", func() float64 { return float64(s.m.refused.Load()) }),
		counter("haredis_proxy_connections_limit_closed_total", "Client connections closed for a command over a limit, or for not authenticating in time.", func() float64 { return float64(s.m.limitClosed.Load()) }),
		gauge("haredis_proxy_connections_active", "Client connections open.", func() float64 { return float64(s.m.active.Load()) }),
		gauge("haredis_proxy_connections_held", "Client connections holding a command during a pause.", func() float64 { return float64(s.m.held.Load()) }),
		counter("haredis_proxy_commands_total", "Commands forwarded to the primary.", func() float64 { return float64(s.commands()) }),
		counter("haredis_proxy_primary_changes_total", "Changes of the primary.", func() float64 { return float64(s.m.primaryChanges.Load()) }),
		counter("haredis_proxy_connections_moved_total", "Client connections carried to a new upstream connection.", func() float64 { return float64(s.m.moved.Load()) }),
		counter("haredis_proxy_connections_ended_on_change_total", "Client connections ended because their session could not be carried.", func() float64 { return float64(s.m.closedOnChange.Load()) }),
		counter("haredis_proxy_upstream_dial_errors_total", "Failed connections to the primary.", func() float64 { return float64(s.m.dialErrors.Load()) }),
		counter("haredis_proxy_pauses_total", "Pauses for planned switchovers.", func() float64 { return float64(s.m.pauses.Load()) }),
		counter("haredis_proxy_pause_timeouts_total", "Pauses that ended by reaching their maximum duration.", func() float64 { return float64(s.m.pauseTimeouts.Load()) }),
		counter("haredis_proxy_tls_handshake_errors_total", "Client connections closed because their TLS handshake failed or did not end within the authentication timeout (plaintext clients among them).", func() float64 { return float64(s.m.tlsHandshakeErrors.Load()) }),
		gauge("haredis_proxy_paused", "1 while commands are held.", func() float64 { return metrics.Bool(s.Paused()) }),
		gauge("haredis_proxy_primary_known", "1 when the proxy has a confirmed primary.", func() float64 { return metrics.Bool(s.Ready()) }),
	)
}

func (s *Server) commands() uint64 {
	var n uint64
	for _, l := range s.eachLoop() {
		n += l.commands.Load()
	}
	return n
}
