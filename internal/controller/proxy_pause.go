package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/proxy"
)

// proxyPauseWait is how long a proxy may take to drain the commands already
// sent before the fence; a proxy that is not drained by then still holds
// every new command, so the switchover goes on.
const proxyPauseWait = time.Second

// pauseProxies asks every running proxy to hold new commands at command
// boundaries (POST /pause). A proxy that cannot be asked is logged and
// left: its clients' writes wait on the fenced primary and fail when it is
// demoted, which loses nothing acknowledged.
func (r *RedisFailoverReconciler) pauseProxies(ctx context.Context, rf *haredisv1.RedisFailover, st *state) error {
	r.eachProxy(ctx, rf, st, func(base string) error {
		return r.post(ctx, base+"/pause?wait="+proxyPauseWait.String(), st.password, proxyPauseWait+time.Second)
	}, "pause")
	return nil
}

// resumeProxies releases the held commands, to primary (host:port as the
// sentinels name it) when given, else to whatever the proxy's own Sentinel
// watcher knows.
func (r *RedisFailoverReconciler) resumeProxies(ctx context.Context, rf *haredisv1.RedisFailover, st *state, primary string) {
	q := ""
	if primary != "" {
		q = "?primary=" + url.QueryEscape(primary)
	}
	r.eachProxy(ctx, rf, st, func(base string) error {
		err := r.post(ctx, base+"/resume"+q, st.password, 3*time.Second)
		if err != nil && q != "" {
			// The proxy could not confirm the new primary itself yet: let it
			// go on with what it knows; its watcher follows Sentinel.
			err = errors.Join(err, r.post(ctx, base+"/resume", st.password, 3*time.Second))
		}
		return err
	}, "resume")
}

func (r *RedisFailoverReconciler) eachProxy(ctx context.Context, rf *haredisv1.RedisFailover, st *state, call func(base string) error, what string) {
	var wg sync.WaitGroup
	for i := range st.proxies {
		p := &st.proxies[i]
		base := r.Reach.ProxyAdminURL(rf, p)
		if base == "" || p.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() {
			if err := call(base); err != nil {
				log.FromContext(ctx).Info("cannot "+what+" a proxy", "proxy", p.Name, "error", err.Error())
			}
		})
	}
	wg.Wait()
}

// post sends an admin request to a proxy, with the Redis password as the
// bearer token the proxy requires when auth is on.
func (r *RedisFailoverReconciler) post(ctx context.Context, u, password string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("cannot build request POST %s: %w", u, err)
	}
	if password != "" {
		req.Header.Set("Authorization", "Bearer "+password)
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d: %s", u, resp.StatusCode, b)
	}
	return nil
}

// proxyRoutes asks every ready proxy where it sends commands (GET /status)
// and lists, in st.proxyMisroutes, each one that routes elsewhere than the
// primary the sentinels' majority names, or to nothing: REDIS_URL then fails
// for the clients that proxy serves, and Ready must not say otherwise.
func (r *RedisFailoverReconciler) proxyRoutes(ctx context.Context, rf *haredisv1.RedisFailover, st *state) {
	st.proxyMisroutes = nil
	if !rf.ProxyEnabled() || st.view.addr == "" {
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range st.proxies {
		p := &st.proxies[i]
		base := r.Reach.ProxyAdminURL(rf, p)
		if base == "" || p.DeletionTimestamp != nil || !podIsReady(p) {
			continue
		}
		wg.Go(func() {
			s, err := r.proxyStatus(ctx, base)
			msg := ""
			switch {
			case err != nil:
				log.FromContext(ctx).Info("cannot ask a proxy where it routes", "proxy", p.Name, "error", err.Error())
			case s.Paused:
				// A switchover holds its commands; it resumes them.
			case s.Primary != st.view.addr:
				msg = fmt.Sprintf("proxy %s sends commands to %q while the sentinels name %s", p.Name, s.Primary, st.view.addr)
			}
			if msg != "" {
				mu.Lock()
				st.proxyMisroutes = append(st.proxyMisroutes, msg)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Strings(st.proxyMisroutes)
}

// proxyStatus is GET /status of one proxy.
func (r *RedisFailoverReconciler) proxyStatus(ctx context.Context, base string) (proxy.Status, error) {
	var s proxy.Status
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
	if err != nil {
		return s, fmt.Errorf("cannot build request GET %s/status: %w", base, err)
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return s, fmt.Errorf("cannot GET %s/status: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s/status: status %d", base, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&s); err != nil {
		return s, fmt.Errorf("cannot decode %s/status: %w", base, err)
	}
	return s, nil
}
