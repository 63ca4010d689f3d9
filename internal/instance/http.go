package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redisconf"
)

// serveHTTP starts the HTTP API on HTTPListen.
func (m *Manager) serveHTTP() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", m.handleHealthz)
	mux.HandleFunc("GET /readyz", m.handleReadyz)
	mux.HandleFunc("GET /status", m.handleStatus)
	mux.HandleFunc("GET /metrics", m.handleMetrics)
	mux.HandleFunc("GET /config", m.handleGetConfig)
	mux.HandleFunc("PUT /config", m.handlePutConfig)
	l, err := net.Listen("tcp", m.opts.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for HTTP on %s: %w", m.opts.HTTPListen, err)
	}
	m.mu.Lock()
	m.httpAddr = l.Addr().String()
	m.mu.Unlock()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("HTTP server stopped", "err", err)
		}
	}()
	m.log.Info("serving HTTP", "addr", l.Addr().String())
	return srv, nil
}

type errorBody struct {
	Error string `json:"error"`
	// RedisError is Redis's own message when Redis refused.
	RedisError string `json:"redisError,omitempty"`
	Directive  string `json:"directive,omitempty"`
}

func writeJSONResponse(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Status is the body of GET /status.
type Status struct {
	Name  string `json:"name"`
	PodIP string `json:"podIP,omitempty"`
	// Phase of the manager: deciding, waiting, starting, running, backoff,
	// stopping.
	Phase string `json:"phase"`
	// Role is primary, replica, or unknown when redis-server does not answer.
	Role              string          `json:"role"`
	RedisUp           bool            `json:"redisUp"`
	RedisError        string          `json:"redisError,omitempty"`
	ReplicationOffset int64           `json:"replicationOffset"`
	ReplID            string          `json:"replID,omitempty"`
	MasterHost        string          `json:"masterHost,omitempty"`
	MasterPort        int             `json:"masterPort,omitempty"`
	MasterLinkUp      bool            `json:"masterLinkUp"`
	SyncInProgress    bool            `json:"syncInProgress,omitempty"`
	LagBytes          int64           `json:"lagBytes"`
	ConnectedReplicas int             `json:"connectedReplicas"`
	Keys              int64           `json:"keys"`
	Loading           bool            `json:"loading,omitempty"`
	RunID             string          `json:"runID,omitempty"`
	RedisPID          int             `json:"redisPID,omitempty"`
	Restarts          int             `json:"restarts"`
	LastDecision      *DecisionRecord `json:"lastDecision,omitempty"`
	Config            configStatus    `json:"config"`
	Durability        Durability      `json:"durability"`
	Ready             bool            `json:"ready"`
	ReadyReason       string          `json:"readyReason"`
}

type configStatus struct {
	Generation      int64             `json:"generation"`
	Hash            string            `json:"hash"`
	InForce         map[string]string `json:"inForce"`
	Desired         map[string]string `json:"desired"`
	DesiredHash     string            `json:"desiredHash"`
	RestartRequired []string          `json:"restartRequired,omitempty"`
	LastError       string            `json:"lastError,omitempty"`
	LastErrorAt     time.Time         `json:"lastErrorAt,omitzero"`
}

// Status returns what GET /status serves.
func (m *Manager) Status() Status {
	m.mu.Lock()
	o, g, d := m.observed, m.group, m.decision
	s := Status{Name: m.opts.Self, PodIP: m.opts.PodIP, Phase: m.phase, Restarts: m.restarts, LastDecision: d}
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
	} else {
		s.LagBytes = -1
		s.RedisError = o.Err
	}
	s.Config = configStatus{Generation: g.Generation, InForce: g.InForce, Hash: redisconf.Hash(g.InForce),
		Desired: g.Desired, DesiredHash: redisconf.Hash(g.Desired), RestartRequired: g.RestartRequired,
		LastError: g.LastError, LastErrorAt: g.LastErrorAt}
	s.Durability = m.Durability()
	s.Ready, s.ReadyReason = m.readiness(s, o)
	return s
}

// readiness: a primary that accepts writes (enough good replicas for
// min-replicas-to-write), or a replica whose link is up and not syncing.
func (m *Manager) readiness(s Status, o observed) (bool, string) {
	switch {
	case !s.RedisUp:
		return false, "redis-server is not running or does not answer (phase " + s.Phase + ")"
	case o.Loading:
		return false, "redis-server is loading its data set"
	case s.Role == "primary":
		if n := m.Durability().MinReplicasToWrite; n > 0 && o.Repl.GoodReplicas < n {
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
	phase, running := m.phase, m.proc != nil && !m.proc.Exited()
	m.mu.Unlock()
	// While the manager waits for a safe boot, it is healthy: restarting
	// the container would not help.
	if !running || phase != PhaseRunning {
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
		writeJSONResponse(w, http.StatusServiceUnavailable, errorBody{Error: "redis-server does not answer PING: " + err.Error()})
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

// PutConfigRequest is the body of PUT /config.
type PutConfigRequest struct {
	// Generation orders groups; 0 means unordered (always accepted).
	Generation int64             `json:"generation"`
	Config     map[string]string `json:"config"`
	// Durability, when set, changes min-replicas-to-write and
	// min-replicas-max-lag at once (they are not part of the group: the
	// operator derives them from spec.durability and the instance count).
	Durability *Durability `json:"durability,omitempty"`
}

func (m *Manager) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	var req PutConfigRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONResponse(w, http.StatusBadRequest, errorBody{Error: "cannot parse the request body: " + err.Error()})
		return
	}
	if d := req.Durability; d != nil {
		if d.MinReplicasToWrite < 0 || d.MaxLagSeconds < 0 {
			writeJSONResponse(w, http.StatusBadRequest, errorBody{Error: "durability: minReplicasToWrite and maxLagSeconds must not be negative"})
			return
		}
		if err := m.SetDurability(r.Context(), *d); err != nil {
			writeJSONResponse(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
			return
		}
	}
	res, err := m.ApplyGroup(r.Context(), req.Generation, req.Config)
	var refused *RefusedError
	switch {
	case err == nil:
		writeJSONResponse(w, http.StatusOK, res)
	case errors.Is(err, ErrInvalidGroup):
		writeJSONResponse(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case errors.Is(err, ErrOldGeneration):
		writeJSONResponse(w, http.StatusConflict, errorBody{Error: err.Error()})
	case errors.As(err, &refused):
		writeJSONResponse(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error(), RedisError: refused.Message, Directive: refused.Directive})
	default:
		writeJSONResponse(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
	}
}

func (m *Manager) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	s := m.Status()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	metric := func(name, help, typ string, samples map[string]float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		keys := make([]string, 0, len(samples))
		for k := range samples {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s%s %g\n", name, k, samples[k])
		}
	}
	role := map[string]float64{}
	for _, r := range []string{"primary", "replica", "unknown"} {
		v := 0.0
		if s.Role == r {
			v = 1
		}
		role[fmt.Sprintf(`{role=%q}`, r)] = v
	}
	b2f := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	metric("haredis_instance_role", "Role of the instance (1 for the current role).", "gauge", role)
	metric("haredis_instance_redis_up", "1 when redis-server answers.", "gauge", map[string]float64{"": b2f(s.RedisUp)})
	metric("haredis_instance_ready", "1 when the instance is ready (see /readyz).", "gauge", map[string]float64{"": b2f(s.Ready)})
	metric("haredis_instance_waiting", "1 while the boot decision keeps redis-server stopped.", "gauge", map[string]float64{"": b2f(s.Phase == PhaseWaiting)})
	metric("haredis_instance_replication_offset_bytes", "Replication offset.", "gauge", map[string]float64{"": float64(s.ReplicationOffset)})
	metric("haredis_instance_replication_lag_bytes", "Bytes behind the primary (-1 when unknown).", "gauge", map[string]float64{"": float64(s.LagBytes)})
	metric("haredis_instance_connected_replicas", "Replicas connected to this primary.", "gauge", map[string]float64{"": float64(s.ConnectedReplicas)})
	metric("haredis_instance_keys", "Keys in all databases.", "gauge", map[string]float64{"": float64(s.Keys)})
	metric("haredis_instance_redis_restarts_total", "Restarts of redis-server by the manager.", "counter", map[string]float64{"": float64(s.Restarts)})
	metric("haredis_instance_config_error", "1 when the last parameter group was refused.", "gauge", map[string]float64{"": b2f(s.Config.LastError != "")})
	metric("haredis_instance_config_restart_required", "Parameters waiting for a restart of redis-server.", "gauge", map[string]float64{"": float64(len(s.Config.RestartRequired))})
	_, _ = w.Write([]byte(b.String()))
}
