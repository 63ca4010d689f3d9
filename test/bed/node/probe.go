package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/haredis/haredis/test/bed/netns"
)

// probe runs the container's startup, then liveness and readiness probes
// until ctx ends (the process exited or the pod is stopping).
func (c *containerRun) probe(ctx context.Context) {
	if sp := c.spec.StartupProbe; sp != nil {
		if !c.loop(ctx, sp, func(ok bool) bool {
			if ok {
				c.r.mu.Lock()
				c.started = true
				if c.spec.ReadinessProbe == nil {
					c.ready = true
				}
				c.r.mu.Unlock()
				c.r.publish()
				return false
			}
			return true
		}, "Startup") {
			return
		}
	} else if c.spec.ReadinessProbe == nil {
		c.r.mu.Lock()
		c.ready = true
		c.r.mu.Unlock()
		c.r.publish()
	}
	if rp := c.spec.ReadinessProbe; rp != nil {
		go c.loop(ctx, rp, func(ok bool) bool {
			c.r.mu.Lock()
			changed := c.ready != ok
			c.ready = ok
			c.r.mu.Unlock()
			if changed {
				c.r.publish()
			}
			return true
		}, "Readiness")
	}
	if lp := c.spec.LivenessProbe; lp != nil {
		c.loop(ctx, lp, func(bool) bool { return true }, "Liveness")
	}
}

// loop runs one probe every period. onResult gets each thresholded result
// and says whether to go on. When a liveness or startup probe reaches its
// failure threshold the container is stopped (and restarted by its
// supervisor); loop then returns false.
func (c *containerRun) loop(ctx context.Context, pr *corev1.Probe, onResult func(bool) bool, kind string) bool {
	period := secondsOr(pr.PeriodSeconds, 10)
	timeout := secondsOr(pr.TimeoutSeconds, 1)
	successes, failures := int32(0), int32(0)
	successThreshold := max(pr.SuccessThreshold, 1)
	failureThreshold := pr.FailureThreshold
	if failureThreshold <= 0 {
		failureThreshold = 3
	}
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return false
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.runProbe(pctx, pr.ProbeHandler)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			successes, failures = successes+1, 0
			if successes >= successThreshold && !onResult(true) {
				return true
			}
		} else {
			successes, failures = 0, failures+1
			if failures >= failureThreshold {
				if kind == "Readiness" {
					onResult(false)
				} else {
					c.r.log().Info("probe failed, restarting container", "container", c.spec.Name, "probe", kind, "error", err.Error())
					grace := secondsOrPtr(c.r.pod.Spec.TerminationGracePeriodSeconds, 30)
					if pr.TerminationGracePeriodSeconds != nil {
						grace = time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
					}
					go c.stop(grace, true)
					return false
				}
			}
		}
		if !sleepCtx(ctx, period) {
			return false
		}
	}
}

func secondsOr[T int32 | int64](v T, def T) time.Duration {
	return secondsOrPtr(&v, def)
}

func secondsOrPtr[T int32 | int64](v *T, def T) time.Duration {
	if v == nil || *v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}

func (c *containerRun) runProbe(ctx context.Context, h corev1.ProbeHandler) error {
	switch {
	case h.Exec != nil:
		code, out, err := c.exec(ctx, h.Exec.Command, nil, nil, nil)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exit code %d: %s", code, out)
		}
		return nil
	case h.TCPSocket != nil:
		port, err := c.port(h.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := c.dial(ctx, h.TCPSocket.Host, port)
		if err != nil {
			return err
		}
		return conn.Close()
	case h.HTTPGet != nil:
		return c.httpProbe(ctx, h.HTTPGet)
	case h.GRPC != nil:
		return fmt.Errorf("grpc probes are not supported by the test bed")
	}
	return fmt.Errorf("probe has no handler")
}

func (c *containerRun) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.spec.Name, p.StrVal)
}

// dial connects from the node (the router namespace) to the pod, as a
// kubelet's probes do.
func (c *containerRun) dial(ctx context.Context, host string, port int) (net.Conn, error) {
	if host == "" {
		c.r.mu.Lock()
		host = c.r.ip.String()
		c.r.mu.Unlock()
	}
	return netns.DialContext(ctx, c.r.p.cfg.Router.Name, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}

func (c *containerRun) httpProbe(ctx context.Context, g *corev1.HTTPGetAction) error {
	port, err := c.port(g.Port)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	host := g.Host
	if host == "" {
		c.r.mu.Lock()
		host = c.r.ip.String()
		c.r.mu.Unlock()
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), g.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netns.DialContext(ctx, c.r.p.cfg.Router.Name, network, addr)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelets do not verify probe certificates either
		DisableKeepAlives: true,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe answered %d", resp.StatusCode)
	}
	return nil
}
