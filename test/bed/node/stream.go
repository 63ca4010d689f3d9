package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	utilexec "k8s.io/utils/exec"

	"github.com/haredis/haredis/test/bed/netns"
)

func (p *Provider) container(namespace, pod, name string) (*containerRun, error) {
	run := p.get(namespace, pod)
	if run == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, pod)
	}
	for _, c := range append(append([]*containerRun(nil), run.ctrs...), run.inits...) {
		if c.spec.Name == name || (name == "" && !c.init) {
			return c, nil
		}
	}
	return nil, errdefs.NotFoundf("pod %s/%s has no container %s", namespace, pod, name)
}

// GetContainerLogs serves `kubectl logs`: the current or previous run of a
// container, with tail, limit and follow.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	c, err := p.container(namespace, podName, containerName)
	if err != nil {
		return nil, err
	}
	c.r.mu.Lock()
	restarts := c.status.RestartCount
	c.r.mu.Unlock()
	if opts.Previous {
		if restarts == 0 {
			return nil, errdefs.NotFoundf("previous terminated container %s not found", containerName)
		}
		restarts--
	}
	f, err := os.Open(c.logPath(restarts))
	if err != nil {
		return nil, errdefs.NotFoundf("container %s has no logs yet", containerName)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read logs: %w", err)
	}
	if opts.Tail > 0 {
		data = tail(data, opts.Tail)
	}
	if opts.LimitBytes > 0 && len(data) > opts.LimitBytes {
		data = data[:opts.LimitBytes]
	}
	if !opts.Follow {
		f.Close()
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		if _, err := pw.Write(data); err != nil {
			return
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					return
				}
				continue
			}
			if err != nil && err != io.EOF {
				pw.CloseWithError(err)
				return
			}
			c.r.mu.Lock()
			moved := c.status.RestartCount != restarts || c.r.terminated
			c.r.mu.Unlock()
			if moved || !sleepCtx(ctx, 200*time.Millisecond) {
				pw.Close()
				return
			}
		}
	}()
	return pr, nil
}

func tail(data []byte, n int) []byte {
	lines := 0
	for i := len(data) - 1; i >= 0; i-- {
		if data[i] == '\n' && i != len(data)-1 {
			lines++
			if lines == n {
				return data[i+1:]
			}
		}
	}
	return data
}

// RunInContainer serves `kubectl exec`; a failing command's exit code goes
// back to kubectl.
func (p *Provider) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	c, err := p.container(namespace, podName, containerName)
	if err != nil {
		return err
	}
	var stdin io.Reader
	if attach.Stdin() != nil {
		stdin = attach.Stdin()
	}
	stdout, stderr := io.Writer(io.Discard), io.Writer(io.Discard)
	if attach.Stdout() != nil {
		stdout = attach.Stdout()
		defer attach.Stdout().Close()
	}
	if attach.Stderr() != nil {
		stderr = attach.Stderr()
		defer attach.Stderr().Close()
	}
	code, _, err := c.exec(ctx, cmd, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// AttachToContainer is not supported: container output goes to log files.
func (p *Provider) AttachToContainer(ctx context.Context, namespace, podName, containerName string, attach api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported by the test bed; use kubectl logs -f")
}

// GetStatsSummary reports no resource usage.
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{}, nil
}

// GetMetricsResource reports no metrics.
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

// PortForward serves `kubectl port-forward`: it connects from the node to
// the pod's address.
func (p *Provider) PortForward(ctx context.Context, namespace, podName string, port int32, stream io.ReadWriteCloser) error {
	run := p.get(namespace, podName)
	if run == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	run.mu.Lock()
	ip := run.ip
	run.mu.Unlock()
	conn, err := netns.DialContext(ctx, p.cfg.Router.Name, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("cannot connect to pod port %d: %w", port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, bufio.NewReader(conn)); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}
