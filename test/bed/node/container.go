package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/supervise"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/test/bed/runner"
)

// Restart back-off of the bed: shorter than a kubelet's 10 s to 5 min, so that
// tests of crash loops stay quick.
const (
	backoffStart = time.Second
	backoffMax   = 20 * time.Second
	// A container that ran this long without failing starts a fresh back-off.
	backoffReset = 30 * time.Second
)

// containerRun is one container of a pod and its current process.
type containerRun struct {
	r    *podRun
	spec corev1.Container
	init bool

	// Guarded by r.mu.
	status  corev1.ContainerStatus
	final   bool // it will not be started again
	proc    *exec.Cmd
	exited  chan struct{}
	env     []string
	started bool // startup probe passed (or none)
	ready   bool
	graceCh chan struct{}
	root    string
}

func newContainerRun(r *podRun, spec corev1.Container, init bool, restarts int32) *containerRun {
	return &containerRun{
		r: r, spec: spec, init: init,
		status: corev1.ContainerStatus{
			Name: spec.Name, Image: spec.Image, ImageID: "bed://" + spec.Image, RestartCount: restarts,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}},
		},
	}
}

func (c *containerRun) statusLocked() corev1.ContainerStatus {
	s := *c.status.DeepCopy()
	s.Ready = c.ready && s.State.Running != nil
	started := c.started && s.State.Running != nil
	s.Started = &started
	return s
}

func (c *containerRun) setStatus(fn func(s *corev1.ContainerStatus)) {
	c.r.mu.Lock()
	fn(&c.status)
	c.r.mu.Unlock()
	c.r.publish()
}

// start launches the container's process. A returned reason means the
// container cannot start as specified (for example an image the host cannot
// honour); the caller retries after a back-off.
func (c *containerRun) start(ctx context.Context) (reason string, err error) {
	img, err := c.r.p.cfg.Images.Resolve(c.spec.Image)
	if err != nil {
		return "ErrImagePull", err
	}
	env, err := c.r.containerEnv(ctx, c.spec, img)
	if err != nil {
		return "CreateContainerConfigError", err
	}
	argv := containerArgv(c.spec, img, env)
	if len(argv) == 0 {
		return "CreateContainerConfigError", fmt.Errorf("no command specified for image %s", c.spec.Image)
	}
	mounts, err := c.r.containerMounts(c.spec, img)
	if err != nil {
		return "CreateContainerConfigError", err
	}
	user, err := containerUser(c.r.pod, c.spec)
	if err != nil {
		return "CreateContainerConfigError", err
	}
	c.r.mu.Lock()
	restarts := c.status.RestartCount
	c.r.mu.Unlock()
	name := fmt.Sprintf("%s-%d", c.spec.Name, restarts)
	if c.init {
		name = "init-" + name
	}
	root := filepath.Join(c.r.dir, "roots", name)
	_ = os.RemoveAll(root)
	_ = os.Remove(root + ".json")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "RunContainerError", fmt.Errorf("cannot create container root: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(c.r.dir, "logs"), 0o755); err != nil {
		return "RunContainerError", fmt.Errorf("cannot create log directory: %w", err)
	}
	out, err := os.Create(c.logPath(restarts))
	if err != nil {
		return "RunContainerError", fmt.Errorf("cannot create log file: %w", err)
	}
	defer out.Close()
	dir := c.spec.WorkingDir
	if dir == "" {
		dir = img.WorkingDir
	}
	cmd, err := runner.Command(runner.Spec{
		Netns: c.r.link.Netns, Hostname: c.r.hostname(), Root: root,
		Mounts: mounts, Argv: argv, Env: env, Dir: dir, User: user,
	}, out)
	if err != nil {
		return "RunContainerError", err
	}
	if err := runner.Start(cmd); err != nil {
		return "RunContainerError", fmt.Errorf("cannot start container process: %w", err)
	}
	exited := make(chan struct{})
	c.r.mu.Lock()
	c.proc, c.exited, c.env, c.root = cmd, exited, env, root
	c.started = c.spec.StartupProbe == nil
	c.ready = false
	c.graceCh = make(chan struct{})
	c.status.ContainerID = fmt.Sprintf("bed://%s/%s/%d", c.r.pod.UID, c.spec.Name, cmd.Process.Pid)
	c.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	c.r.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	c.r.log().Info("container started", "container", c.spec.Name, "pid", cmd.Process.Pid, "argv", argv)
	c.r.publish()
	return "", nil
}

func (c *containerRun) logPath(restarts int32) string {
	prefix := ""
	if c.init {
		prefix = "init-"
	}
	return filepath.Join(c.r.dir, "logs", fmt.Sprintf("%s%s-%d.log", prefix, c.spec.Name, restarts))
}

// wait blocks until the current process exits and records how it ended.
func (c *containerRun) wait() int32 {
	c.r.mu.Lock()
	cmd, exited := c.proc, c.exited
	c.r.mu.Unlock()
	<-exited
	// Children the process left behind (a fork of redis-server, say) go too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	code := int32(cmd.ProcessState.ExitCode())
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	c.r.mu.Lock()
	var startedAt metav1.Time
	if c.status.State.Running != nil {
		startedAt = c.status.State.Running.StartedAt
	}
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, StartedAt: startedAt, FinishedAt: metav1.Now(), ContainerID: c.status.ContainerID,
	}}
	c.ready = false
	root := c.root
	c.r.mu.Unlock()
	_ = os.RemoveAll(root)
	_ = os.Remove(root + ".json")
	c.r.log().Info("container exited", "container", c.spec.Name, "exitCode", code)
	return code
}

// waitOrStop waits for the current process like wait; if ctx ends first (the
// pod is stopping) it stops the process with the pod's grace period. The pod
// also stops its containers itself, but a container whose start was under
// way at that moment had no process to stop yet: without this its process
// would run, and the pod wait for it, forever.
func (c *containerRun) waitOrStop(ctx context.Context) int32 {
	exited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			c.stop(c.r.graceDuration(), true)
		case <-exited:
		}
	}()
	defer close(exited)
	return c.wait()
}

// runToCompletion runs an init container until it exits 0, restarting it on
// failure unless the pod's restartPolicy is Never.
func (c *containerRun) runToCompletion(ctx context.Context) bool {
	backoff := backoffStart
	for {
		if ctx.Err() != nil {
			return false
		}
		reason, err := c.start(ctx)
		if err != nil {
			c.setStatus(func(s *corev1.ContainerStatus) {
				s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
			})
		} else {
			code := c.waitOrStop(ctx)
			c.r.publish()
			if code == 0 {
				c.r.mu.Lock()
				c.final = true
				c.r.mu.Unlock()
				return true
			}
			if c.r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				c.r.mu.Lock()
				c.final = true
				c.r.mu.Unlock()
				return false
			}
		}
		if !sleepCtx(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, backoffMax)
		if err == nil {
			c.r.mu.Lock()
			c.status.RestartCount++
			c.r.mu.Unlock()
		}
	}
}

// supervise keeps a regular container running as the pod's restartPolicy
// says, with back-off, and runs its probes while it runs.
func (c *containerRun) supervise(ctx context.Context) {
	backoff := backoffStart
	for {
		if ctx.Err() != nil {
			return
		}
		reason, err := c.start(ctx)
		if err != nil {
			c.r.log().Info("container cannot start", "container", c.spec.Name, "reason", reason, "error", err.Error())
			c.setStatus(func(s *corev1.ContainerStatus) {
				s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
			})
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, backoffMax)
			continue
		}
		began := time.Now()
		probeCtx, stopProbes := context.WithCancel(ctx)
		go c.probe(probeCtx)
		code := c.waitOrStop(ctx)
		stopProbes()
		if ctx.Err() != nil {
			return
		}
		policy := c.r.pod.Spec.RestartPolicy
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && code == 0) {
			c.r.mu.Lock()
			c.final = true
			c.r.mu.Unlock()
			c.r.publish()
			return
		}
		if time.Since(began) > backoffReset {
			backoff = backoffStart
		}
		c.setStatus(func(s *corev1.ContainerStatus) {
			s.LastTerminationState = s.State
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container %s", backoff, c.spec.Name),
			}}
		})
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, backoffMax)
		c.r.mu.Lock()
		c.status.RestartCount++
		c.r.mu.Unlock()
	}
}

// stop ends the current process: the preStop hook, SIGTERM, then SIGKILL to
// its process group after grace.
func (c *containerRun) stop(grace time.Duration, preStop bool) {
	c.r.mu.Lock()
	cmd, exited, graceCh := c.proc, c.exited, c.graceCh
	running := c.status.State.Running != nil
	c.r.mu.Unlock()
	if cmd == nil || !running {
		return
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	if preStop && c.spec.Lifecycle != nil && c.spec.Lifecycle.PreStop != nil && c.spec.Lifecycle.PreStop.Exec != nil && grace > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		_, _, _ = c.exec(ctx, c.spec.Lifecycle.PreStop.Exec.Command, nil, nil, nil)
		cancel()
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-deadline.C:
	case <-graceCh:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// shortenGrace ends a running graceful stop at once (a delete with a shorter
// grace period arrived). Called with r.mu held.
func (c *containerRun) shortenGrace() {
	if c.graceCh != nil {
		select {
		case <-c.graceCh:
		default:
			close(c.graceCh)
		}
	}
}

// pid is the container's main process, or 0.
func (c *containerRun) pid() int {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.proc == nil || c.status.State.Running == nil {
		return 0
	}
	return c.proc.Process.Pid
}

// exec runs argv inside the container's namespaces and root, as `kubectl
// exec` does; it returns the exit code.
func (c *containerRun) exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, string, error) {
	pid := c.pid()
	if pid == 0 {
		return -1, "", fmt.Errorf("container %s is not running", c.spec.Name)
	}
	c.r.mu.Lock()
	env := c.env
	c.r.mu.Unlock()
	args := []string{"-t", fmt.Sprint(pid), "-m", "-n", "-u", "-r", "-w", "--"}
	// As the container's user, as a kubelet's exec runs.
	user, err := containerUser(c.r.pod, c.spec)
	if err != nil {
		return -1, "", err
	}
	if user != nil {
		args = append(args, "setpriv", fmt.Sprintf("--reuid=%d", user.UID), fmt.Sprintf("--regid=%d", user.GID))
		if len(user.Groups) == 0 {
			args = append(args, "--clear-groups")
		} else {
			groups := make([]string, len(user.Groups))
			for i, g := range user.Groups {
				groups[i] = fmt.Sprint(g)
			}
			args = append(args, "--groups="+strings.Join(groups, ","))
		}
		args = append(args, "--")
	}
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var buf limitedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	cmd.WaitDelay = time.Second
	err = supervise.StartTied(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), buf.String(), nil
	}
	if err != nil {
		return -1, buf.String(), fmt.Errorf("cannot exec in container %s: %w", c.spec.Name, err)
	}
	return 0, buf.String(), nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// limitedBuffer keeps the first 64 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
