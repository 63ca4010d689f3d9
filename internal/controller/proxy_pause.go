package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/proxyapi"
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
	_ = r.eachProxy(ctx, rf, st, func(c proxyapi.Client) error {
		return c.Pause(ctx, proxyPauseWait)
	}, "pause")
	return nil
}

// resumeProxies releases the held commands, to primary (host:port as the
// sentinels name it) when given, else to whatever the proxy's own Sentinel
// watcher knows.
func (r *RedisFailoverReconciler) resumeProxies(ctx context.Context, rf *haredisv1.RedisFailover, st *state, primary string) {
	_ = r.eachProxy(ctx, rf, st, func(c proxyapi.Client) error {
		err := c.Resume(ctx, primary)
		if err != nil && primary != "" {
			// The proxy could not confirm the new primary itself yet: let it
			// go on with what it knows; its watcher follows Sentinel.
			err = errors.Join(err, c.Resume(ctx, ""))
		}
		return err
	}, "resume")
}

// eachProxy calls call on every running proxy at once; the errors, each
// logged, are returned together.
func (r *RedisFailoverReconciler) eachProxy(ctx context.Context, rf *haredisv1.RedisFailover, st *state, call func(c proxyapi.Client) error, what string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range st.proxies {
		p := &st.proxies[i]
		base := r.Reach.ProxyAdminURL(rf, p)
		if base == "" || p.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() {
			if err := call(r.proxyClient(base, st)); err != nil {
				log.FromContext(ctx).Info("cannot "+what+" a proxy", "proxy", p.Name, "error", err.Error())
				mu.Lock()
				errs = append(errs, fmt.Errorf("proxy %s: %w", p.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// proxyClient is the admin client of the proxy at base, with the proxies'
// admin token; a proxy started by an earlier haredis, which takes the
// Redis password instead, gets that (until its Deployment has rolled).
func (r *RedisFailoverReconciler) proxyClient(base string, st *state) proxyapi.Client {
	return proxyapi.Client{BaseURL: base, Token: st.proxyToken, Fallback: st.password, HTTP: r.HTTP}
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
			s, err := r.proxyClient(base, st).Status(ctx)
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
