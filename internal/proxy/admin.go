package proxy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/haredis/haredis/internal/proxyapi"
	"github.com/haredis/haredis/internal/secretfile"
	"github.com/haredis/haredis/internal/sentinel"
)

// AdminHandler serves the proxy's admin endpoint:
//
//	POST /pause[?wait=5s]           hold commands; answers when in-flight replies are in
//	POST /resume[?primary=host:port] release commands, to primary when given
//	GET  /healthz                    the process serves
//	GET  /readyz                     200 once a primary is confirmed
//	GET  /metrics                    Prometheus text format
//	GET  /status                     JSON: primary, ready, paused
//
// /resume checks with ROLE that a given primary is a master before using it.
// /pause and /resume require the admin token (Config.AdminTokenFile) as a
// bearer token (`Authorization: Bearer TOKEN`): anyone who reaches the pod
// could otherwise hold every client's commands. Without a token file, they
// require the Redis password when the proxy has one. The admin token is
// not the application's password, so an application's client cannot
// pause the proxy. The GET endpoints stay open for probes and metrics.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pause", s.authorized(func(w http.ResponseWriter, r *http.Request) {
		wait := s.cfg.MaxPause
		if v := r.URL.Query().Get("wait"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				http.Error(w, fmt.Sprintf("cannot parse wait: %v", err), http.StatusBadRequest)
				return
			}
			wait = min(d, wait)
		}
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		busy := s.Pause(ctx)
		writeJSON(w, map[string]any{"paused": true, "drained": busy == 0, "busyConnections": busy})
	}))
	mux.HandleFunc("POST /resume", s.authorized(func(w http.ResponseWriter, r *http.Request) {
		primary := r.URL.Query().Get("primary")
		if primary != "" {
			role, err := sentinel.Role(r.Context(), primary, sentinel.Access{Password: s.password(), TLS: s.upstreamTLS(primary)}, s.cfg.DialTimeout)
			if prev := s.previousPassword(); err != nil && prev != "" && strings.Contains(err.Error(), "WRONGPASS") {
				// During a rotation: an instance that has not read the new
				// password yet.
				role, err = sentinel.Role(r.Context(), primary, sentinel.Access{Password: prev, TLS: s.upstreamTLS(primary)}, s.cfg.DialTimeout)
			}
			if err != nil || role != "master" {
				http.Error(w, fmt.Sprintf("cannot resume to %s: role %q, error %v", primary, role, err), http.StatusConflict)
				return
			}
		}
		s.Resume(primary)
		p, _ := s.Primary()
		writeJSON(w, map[string]any{"paused": false, "primary": p})
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "no confirmed primary", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		p, ok := s.Primary()
		writeJSON(w, Status{Primary: p, Ready: ok, Paused: s.Paused()})
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	return mux
}

// authorized lets a request through when it carries the admin token (or,
// without a token file, the Redis password) as a bearer token, or when the
// proxy requires neither.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		want, what := s.password(), "the Redis password"
		if s.cfg.AdminTokenFile != "" {
			t, err := secretfile.Read(s.cfg.AdminTokenFile)
			if err != nil {
				s.cfg.Log.Error(err, "cannot read the admin token")
				http.Error(w, "the proxy cannot read its admin token; see its log", http.StatusServiceUnavailable)
				return
			}
			want, what = t, "the proxy's admin token (key "+proxyapi.TokenKey+" of Secret NAME-internal)"
		}
		if want != "" {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
				http.Error(w, "the admin endpoint requires "+what+" as a bearer token (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
				return
			}
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Status is the JSON body of GET /status (the contract is proxyapi's).
type Status = proxyapi.Status
