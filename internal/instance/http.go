package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/metrics"
	"github.com/haredis/haredis/internal/redisconf"
)

// serveHTTP starts the HTTP API on HTTPListen and, when MetricsListen is
// set, the metrics on their own listener.
func (m *Manager) serveHTTP() ([]*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", m.handleHealthz)
	mux.HandleFunc("GET /readyz", m.handleReadyz)
	mux.HandleFunc("GET /status", m.handleStatus)
	mux.Handle("GET /metrics", m.metricsHandler())
	mux.HandleFunc("GET /config", m.handleGetConfig)
	mux.HandleFunc("PUT /config", m.handlePutConfig)
	mux.HandleFunc("PUT /force", m.handleForce)
	mux.HandleFunc("PUT /seed", m.handlePutSeed)
	mux.HandleFunc("POST /cutover", m.handleCutover)
	mux.HandleFunc("POST /cutover/release", m.handleCutoverRelease)
	mux.HandleFunc("POST /backups", m.handleStartBackup)
	mux.HandleFunc("GET /backups/{id}", m.handleGetBackup)
	api, addr, err := m.serve("API", m.opts.HTTPListen, m.authorize(mux))
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.httpAddr = addr
	m.mu.Unlock()
	if m.opts.MetricsListen == "" {
		return []*http.Server{api}, nil
	}
	// Metrics alone, without the token, for Prometheus: a view of the
	// status that changes nothing.
	mm := http.NewServeMux()
	mm.Handle("GET /metrics", m.metricsHandler())
	ms, addr, err := m.serve("metrics", m.opts.MetricsListen, mm)
	if err != nil {
		shutdown([]*http.Server{api})
		return nil, err
	}
	m.mu.Lock()
	m.metricsAddr = addr
	m.mu.Unlock()
	return []*http.Server{api, ms}, nil
}

func (m *Manager) metricsHandler() http.Handler {
	return metrics.HandlerWithLabels(prometheus.Labels{"redisfailover": m.config().ClusterName}, statusCollector{m})
}

// serve listens on addr and serves h there until shut down.
func (m *Manager) serve(what, addr string, h http.Handler) (*http.Server, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("cannot listen for the %s on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("HTTP server stopped", "serving", what, "err", err)
		}
	}()
	m.log.Info("serving HTTP", "serving", what, "addr", l.Addr().String())
	return srv, l.Addr().String(), nil
}

// shutdown stops the servers, giving requests in flight 5 s.
func shutdown(servers []*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
}

// authorize lets the kubelet's probes through and requires the manager
// token for everything else: the API changes a running primary's
// configuration and durability, and its status is the operator's input.
func (m *Manager) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !instanceapi.Public[r.URL.Path] && !instanceapi.Authorized(r, m.token()) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="haredis-instance"`)
			writeJSONResponse(w, http.StatusUnauthorized, instanceapi.ErrorBody{Error: "this API requires the manager token of the RedisFailover (Authorization: Bearer ...)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSONResponse(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Status returns what GET /status serves.
func (m *Manager) Status() instanceapi.Status {
	m.mu.Lock()
	o, g, d, run := m.observed, m.group, m.decision, m.run
	s := instanceapi.Status{Name: m.opts.Self, PodIP: m.opts.PodIP, MasterName: m.cfg.MasterName, Phase: m.phase, Restarts: m.restarts, LastDecision: d,
		Refused: m.refused}
	server := m.server
	if m.boot != nil {
		b := *m.boot
		s.Bootstrap = &b
	}
	if m.proc != nil && !m.proc.Exited() {
		s.RedisPID = m.proc.Pid
	}
	running := m.proc != nil && !m.proc.Exited()
	m.mu.Unlock()
	s.Role = "unknown"
	if running && o.Up {
		s.RedisUp = true
		s.Role = map[string]string{"master": "primary", "slave": "replica"}[o.Repl.Role]
		s.ReplicationOffset, s.ReplID = o.Repl.Offset, o.Repl.ReplID
		s.MasterHost, s.MasterPort = o.Repl.MasterHost, o.Repl.MasterPort
		s.MasterLinkUp, s.SyncInProgress = o.Repl.LinkUp, o.Repl.SyncInProgress
		s.LagBytes, s.ConnectedReplicas = o.LagBytes, o.Repl.ConnectedReplicas
		s.Keys, s.Loading, s.RunID = o.Keys, o.Loading, o.RunID
		if o.Server.Known() {
			server = o.Server
		}
	} else {
		s.LagBytes = -1
		s.RedisError = o.Err
	}
	s.Config = instanceapi.ConfigStatus{Generation: g.Generation, InForce: g.InForce, Hash: redisconf.Hash(g.InForce),
		Desired: g.Desired, DesiredHash: redisconf.Hash(g.Desired), RestartRequired: g.RestartRequired,
		LastError: g.LastError, LastErrorAt: g.LastErrorAt}
	m.mu.Lock()
	s.Config.Restores, s.Config.LastRestore, s.Config.LastRestoreAt = m.drift.restores, m.drift.last, m.drift.lastAt
	s.ACLError = m.users.err
	m.mu.Unlock()
	s.Durability = m.Durability()
	if running && o.Up {
		s.DurabilityLive = o.Durability
		if s.Role == instanceapi.RoleReplica {
			s.Synced, s.Promotable, s.PromotableReason = run.synced, run.promotable, run.why
		}
	}
	m.dataStatus(&s, o, running)
	s.Forced = m.forcedPrimary()
	s.LabelRole = m.labelRole()
	s.Volume = m.volume()
	if server.Known() {
		s.Engine, s.EngineVersion = string(server.Engine), server.Version.String()
	}
	s.Ready, s.ReadyReason = m.readiness(s, o)
	return s
}

// readiness: a primary that accepts writes (enough good replicas for
// min-replicas-to-write), or a replica whose link is up and not syncing.
func (m *Manager) readiness(s instanceapi.Status, o observed) (bool, string) {
	switch {
	case s.Refused != "":
		return false, "not started: " + s.Refused
	case s.Bootstrap != nil && s.Bootstrap.Phase == instanceapi.BootstrapFailed:
		return false, "not started: the seed cannot be loaded: " + s.Bootstrap.Error
	case s.Bootstrap != nil && s.Bootstrap.Phase == instanceapi.BootstrapLoading:
		return false, "not started yet: loading the seed " + s.Bootstrap.Source
	case s.LabelRole == instanceapi.RolePrimary && s.Role == instanceapi.RoleReplica:
		// The Service NAME-primary selects this pod by its label: while the
		// label says primary (the operator has not moved it, or is down),
		// a demoted primary must leave its endpoints.
		return false, "labelled primary but is a replica: kept out of the primary Service until the operator moves the label"
	case !s.RedisUp:
		return false, "redis-server is not running or does not answer (phase " + s.Phase + ")"
	case o.Loading:
		return false, "redis-server is loading its data set"
	case s.Role == "primary":
		d := m.Durability()
		if d.Fenced() {
			// Refusing writes is what was asked for: the primary stays in
			// its Service for reads.
			return true, "primary fenced on purpose (spec.fenced): refuses writes, serves reads"
		}
		if n := d.MinReplicasToWrite; n > 0 && o.Repl.GoodReplicas < n {
			return false, fmt.Sprintf("primary refuses writes: %d good replicas, min-replicas-to-write is %d", max(o.Repl.GoodReplicas, 0), n)
		}
		return true, "primary accepting writes"
	case !o.Repl.LinkUp:
		return false, "replica: link to the primary is down"
	case o.Repl.SyncInProgress:
		return false, "replica: synchronisation in progress"
	}
	return true, "replica in sync"
}

func (m *Manager) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSONResponse(w, http.StatusOK, m.Status())
}

func (m *Manager) handleHealthz(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	phase, running, up := m.phase, m.proc != nil && !m.proc.Exited(), m.run.up
	m.mu.Unlock()
	// While the manager waits for a safe boot, or redis-server starts (and
	// perhaps fails to load its files, which the status reports), it is
	// healthy: restarting the container would not help.
	if !running || phase != instanceapi.PhaseRunning || !up {
		writeJSONResponse(w, http.StatusOK, map[string]string{"status": "ok", "phase": phase})
		return
	}
	c, err := m.redisClient.client()
	if err == nil {
		err = c.Ping(r.Context()).Err()
		// Any reply from Redis (LOADING while it reads a large data set,
		// WRONGPASS after a password change) proves the process answers.
		var reply redis.Error
		if errors.As(err, &reply) {
			err = nil
		}
	}
	if err != nil {
		writeJSONResponse(w, http.StatusServiceUnavailable, instanceapi.ErrorBody{Error: "redis-server does not answer PING: " + err.Error()})
		return
	}
	writeJSONResponse(w, http.StatusOK, map[string]string{"status": "ok", "phase": phase})
}

func (m *Manager) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	s := m.Status()
	code := http.StatusOK
	if !s.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSONResponse(w, code, map[string]interface{}{"ready": s.Ready, "role": s.Role, "reason": s.ReadyReason})
}

func (m *Manager) handleGetConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSONResponse(w, http.StatusOK, m.Group())
}

func (m *Manager) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	var req instanceapi.PutConfigRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: "cannot parse the request body: " + err.Error()})
		return
	}
	if d := req.Durability; d != nil {
		if d.MinReplicasToWrite < 0 || d.MaxLagSeconds < 0 || d.MinReplicasToWrite > instanceapi.FenceMinReplicasToWrite || d.MaxLagSeconds > 3600 {
			writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: fmt.Sprintf(
				"durability: minReplicasToWrite must be from 0 to %d (%d fences writes) and maxLagSeconds from 0 to 3600", instanceapi.FenceMinReplicasToWrite, instanceapi.FenceMinReplicasToWrite)})
			return
		}
		if err := m.SetDurability(r.Context(), *d); err != nil {
			writeJSONResponse(w, http.StatusInternalServerError, instanceapi.ErrorBody{Error: err.Error()})
			return
		}
	}
	res, err := m.ApplyGroup(r.Context(), req.Generation, req.Config)
	var refused *RefusedError
	switch {
	case err == nil:
		writeJSONResponse(w, http.StatusOK, res)
	case errors.Is(err, ErrInvalidGroup):
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: err.Error()})
	case errors.Is(err, ErrOldGeneration):
		writeJSONResponse(w, http.StatusConflict, instanceapi.ErrorBody{Error: err.Error()})
	case errors.As(err, &refused):
		writeJSONResponse(w, http.StatusUnprocessableEntity, instanceapi.ErrorBody{Error: err.Error(), RedisError: refused.Message, Directive: refused.Directive})
	default:
		writeJSONResponse(w, http.StatusInternalServerError, instanceapi.ErrorBody{Error: err.Error()})
	}
}

func (m *Manager) handleForce(w http.ResponseWriter, r *http.Request) {
	var req instanceapi.ForceRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: "cannot parse the request body: " + err.Error()})
		return
	}
	cfg := m.config()
	if req.Primary != m.opts.Self && !cfg.HasInstance(req.Primary) && cfg.Serial(req.Primary) <= cfg.MaxSerial() {
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: fmt.Sprintf("primary: %q is not an instance of %s (instances: %v)", req.Primary, cfg.ClusterName, cfg.Instances)})
		return
	}
	m.Force(req.Primary)
	writeJSONResponse(w, http.StatusOK, map[string]string{"forced": req.Primary, "until": time.Now().Add(instanceapi.ForceTTL).UTC().Format(time.RFC3339)})
}
