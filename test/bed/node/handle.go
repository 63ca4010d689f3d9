package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"syscall"
)

// PodHandle lets tests reach into one running pod: its address, its
// processes, its network link.
type PodHandle struct {
	run *podRun
}

// IP is the pod's address.
func (h *PodHandle) IP() netip.Addr {
	h.run.mu.Lock()
	defer h.run.mu.Unlock()
	return h.run.ip
}

// Netns is the name of the pod's network namespace.
func (h *PodHandle) Netns() string {
	h.run.mu.Lock()
	defer h.run.mu.Unlock()
	return h.run.link.Netns
}

// PID is the host PID of the container's main process.
func (h *PodHandle) PID(container string) (int, error) {
	c, err := h.container(container)
	if err != nil {
		return 0, err
	}
	pid := c.pid()
	if pid == 0 {
		return 0, fmt.Errorf("container %s is not running", container)
	}
	return pid, nil
}

// Signal sends sig to the container's main process (SIGKILL to simulate a
// crash).
func (h *PodHandle) Signal(container string, sig syscall.Signal) error {
	pid, err := h.PID(container)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("cannot signal container %s: %w", container, err)
	}
	return nil
}

// SetNetwork cuts the pod off the network (false) or restores it (true).
func (h *PodHandle) SetNetwork(ctx context.Context, up bool) error {
	h.run.mu.Lock()
	veth := h.run.link.Veth
	h.run.mu.Unlock()
	if veth == "" {
		return fmt.Errorf("pod has no network yet")
	}
	return h.run.p.cfg.Router.SetPodLink(ctx, veth, up)
}

// Exec runs argv in the container and returns its stdout, stderr and exit code.
func (h *PodHandle) Exec(ctx context.Context, container string, stdin io.Reader, argv ...string) (stdout, stderr string, code int, err error) {
	c, err := h.container(container)
	if err != nil {
		return "", "", -1, err
	}
	var out, errb bytes.Buffer
	code, _, err = c.exec(ctx, argv, stdin, &out, &errb)
	return out.String(), errb.String(), code, err
}

func (h *PodHandle) container(name string) (*containerRun, error) {
	for _, c := range append(append([]*containerRun(nil), h.run.ctrs...), h.run.inits...) {
		if c.spec.Name == name || (name == "" && !c.init) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("pod %s has no container %s", h.run.pod.Name, name)
}
