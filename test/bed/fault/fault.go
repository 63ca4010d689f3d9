package fault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/test/bed/cluster"
)

// Injector provokes failures on one bed.
type Injector struct {
	bed *cluster.Cluster
}

// New returns the fault handles of a bed.
func New(bed *cluster.Cluster) *Injector { return &Injector{bed: bed} }

// CutOff drops every packet to and from the pod (its link goes down): peers
// see timeouts, as in a network partition. It returns the function that
// restores the link.
func (f *Injector) CutOff(ctx context.Context, namespace, pod string) (restore func(context.Context) error, err error) {
	h, err := f.bed.Pod(ctx, namespace, pod)
	if err != nil {
		return nil, err
	}
	if err := h.SetNetwork(ctx, false); err != nil {
		return nil, fmt.Errorf("cannot cut off pod %s/%s: %w", namespace, pod, err)
	}
	return func(ctx context.Context) error { return h.SetNetwork(ctx, true) }, nil
}

// Restore reconnects a pod that CutOff cut off.
func (f *Injector) Restore(ctx context.Context, namespace, pod string) error {
	h, err := f.bed.Pod(ctx, namespace, pod)
	if err != nil {
		return err
	}
	return h.SetNetwork(ctx, true)
}

// KillContainer sends SIGKILL to the container's main process, as a crash
// or the OOM killer would; the kubelet restarts it per restartPolicy. It
// returns the PID it killed.
func (f *Injector) KillContainer(ctx context.Context, namespace, pod, container string) (int, error) {
	h, err := f.bed.Pod(ctx, namespace, pod)
	if err != nil {
		return 0, err
	}
	pid, err := h.PID(container)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("cannot kill container %s of %s/%s: %w", container, namespace, pod, err)
	}
	return pid, nil
}

// ChildPID returns the PID of the child named comm (as in /proc/PID/comm,
// e.g. "redis-server") of the container's main process, read from /proc:
// it finds a process the container runs even when the pod cannot be reached
// over the network (cut off).
func (f *Injector) ChildPID(ctx context.Context, namespace, pod, container, comm string) (int, error) {
	h, err := f.bed.Pod(ctx, namespace, pod)
	if err != nil {
		return 0, err
	}
	parent, err := h.PID(container)
	if err != nil {
		return 0, err
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(b[end+1:]))
		if len(fields) < 2 || string(b[open+1:end]) != comm || fields[1] != strconv.Itoa(parent) {
			continue
		}
		return strconv.Atoi(strings.TrimSpace(string(b[:open])))
	}
	return 0, fmt.Errorf("no process %s under container %s of %s/%s (pid %d)", comm, container, namespace, pod, parent)
}

// StopNode powers a node off: its kubelet stops (the Node turns NotReady
// after about 10 s), its pods' processes die and its bridge goes down. With
// wait it returns once the Node is NotReady.
func (f *Injector) StopNode(ctx context.Context, name string, wait bool) error {
	n, err := f.bed.Node(name)
	if err != nil {
		return err
	}
	if err := n.Stop(ctx); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	return n.WaitReady(ctx, false, 2*time.Minute)
}

// StartNode powers a stopped node on and waits until it is Ready; pods still
// bound to it start again with their restart counts raised.
func (f *Injector) StartNode(ctx context.Context, name string) error {
	n, err := f.bed.Node(name)
	if err != nil {
		return err
	}
	return n.Start(ctx)
}

// KillOperatorPod SIGKILLs the operator's container in its pod (the
// Deployment's kubelet restarts it).
func (f *Injector) KillOperatorPod(ctx context.Context, namespace, pod, container string) error {
	_, err := f.KillContainer(ctx, namespace, pod, container)
	return err
}

// KillProcess SIGKILLs an operator that runs as a host process (for example
// an exec.Cmd the test started); the caller reaps it with Wait.
func KillProcess(p *os.Process) error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("cannot kill pid %d: %w", p.Pid, err)
	}
	return nil
}
