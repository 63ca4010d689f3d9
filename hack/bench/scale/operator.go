package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/haredis/haredis/test/operatorbed"
)

const (
	// reconcileMetric is controller-runtime's histogram of reconcile
	// durations, labelled with the controller's name.
	reconcileMetric = "controller_runtime_reconcile_time_seconds"
	controllerName  = "redisfailover"
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
	// (100 on every Linux architecture Go supports).
	clockTicks = 100
)

// operator is the operator's process on the host (its pod's container runs
// as a host process on the bed) and its metrics endpoint.
type operator struct {
	pod        string
	pid        int
	metricsURL string
	// token may read the metrics, as Prometheus's would.
	token string
	http  *http.Client
}

// findOperator finds the one operator pod, its process and its metrics
// port (the container port named metrics).
func findOperator(ctx context.Context, env *operatorbed.Env) (*operator, error) {
	pods, err := env.OperatorPods(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list the operator's pods: %w", err)
	}
	if len(pods) != 1 {
		return nil, fmt.Errorf("want one operator pod, found %d", len(pods))
	}
	p := pods[0]
	h, err := env.Bed.Pod(ctx, operatorbed.OperatorNamespace, p.Name)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the operator's pod: %w", err)
	}
	pid, err := h.PID(operatorbed.OperatorContainer)
	if err != nil {
		return nil, fmt.Errorf("cannot find the operator's process: %w", err)
	}
	if err := checkIsOperator(pid); err != nil {
		return nil, err
	}
	port, err := metricsPort(&p)
	if err != nil {
		return nil, err
	}
	token, err := env.MetricsReaderToken(ctx)
	if err != nil {
		return nil, err
	}
	return &operator{
		pod: p.Name, pid: pid,
		metricsURL: "https://" + net.JoinHostPort(h.IP().String(), strconv.Itoa(int(port))) + "/metrics",
		token:      token,
		http:       env.MetricsHTTPClient(10 * time.Second),
	}, nil
}

// checkIsOperator makes sure pid is `haredis operator` itself, not a
// wrapper whose figures would include something else.
func checkIsOperator(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Errorf("cannot read the operator's command line: %w", err)
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) < 2 || !strings.HasSuffix(args[0], "haredis") || args[1] != "operator" {
		return fmt.Errorf("process %d is %q, not haredis operator", pid, args)
	}
	return nil
}

func metricsPort(p *corev1.Pod) (int32, error) {
	for _, c := range p.Spec.Containers {
		if c.Name != operatorbed.OperatorContainer {
			continue
		}
		for _, port := range c.Ports {
			if port.Name == "metrics" {
				return port.ContainerPort, nil
			}
		}
	}
	return 0, fmt.Errorf("the operator's container %s has no port named metrics", operatorbed.OperatorContainer)
}

// usage is what the kernel accounts for a process.
type usage struct {
	// peakRSS is VmHWM, the peak resident set size, in bytes.
	peakRSS uint64
	// cpu is utime+stime.
	cpu time.Duration
	// started is the process's start time in clock ticks after boot: a
	// different value means another process under the same PID.
	started uint64
}

func (o *operator) usage() (usage, error) {
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", o.pid))
	if err != nil {
		return u, fmt.Errorf("cannot read the operator's memory: %w", err)
	}
	if u.peakRSS, err = vmHWM(string(status)); err != nil {
		return u, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", o.pid))
	if err != nil {
		return u, fmt.Errorf("cannot read the operator's CPU time: %w", err)
	}
	u.cpu, u.started, err = cpuTime(string(stat))
	return u, err
}

// vmHWM reads VmHWM (in kB) of /proc/PID/status.
func vmHWM(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse VmHWM %q: %w", v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/PID/status has no VmHWM")
}

// cpuTime reads utime+stime and starttime of /proc/PID/stat (fields 14,
// 15 and 22; the command name, field 2, may hold spaces).
func cpuTime(stat string) (time.Duration, uint64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("cannot parse /proc/PID/stat %q", stat)
	}
	f := strings.Fields(stat[end+1:]) // f[0] is field 3
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/PID/stat has %d fields", len(f)+2)
	}
	var v [3]uint64
	for i, idx := range []int{11, 12, 19} {
		n, err := strconv.ParseUint(f[idx], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cannot parse field %d of /proc/PID/stat: %w", idx+3, err)
		}
		v[i] = n
	}
	return time.Duration(v[0]+v[1]) * time.Second / clockTicks, v[2], nil
}

// reconcileHistogram scrapes the operator's metrics endpoint for the
// redisfailover controller's reconcile durations.
func (o *operator) reconcileHistogram(ctx context.Context) (histogram, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.metricsURL, nil)
	if err != nil {
		return histogram{}, err
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := o.http.Do(req)
	if err != nil {
		return histogram{}, fmt.Errorf("cannot scrape the operator's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return histogram{}, fmt.Errorf("the operator's metrics endpoint answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return histogram{}, fmt.Errorf("cannot read the operator's metrics: %w", err)
	}
	return parseHistogram(string(body), reconcileMetric, "controller", controllerName)
}
