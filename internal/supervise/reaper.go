package supervise

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper starts processes and reports their exit.
//
// In reap-all mode every child is collected with wait4(-1): exec.Cmd.Wait
// must then never be called (the reaper may have collected the child
// already), so processes started here write to files, never to pipes.
type Reaper struct {
	reapAll bool
	log     *slog.Logger

	mu      sync.Mutex
	running map[int]*Process
}

// NewReaper returns a Reaper. reapAll collects every child of this process,
// as PID 1 must; otherwise only the processes it started.
func NewReaper(reapAll bool, log *slog.Logger) *Reaper {
	r := &Reaper{reapAll: reapAll, log: log, running: map[int]*Process{}}
	if reapAll {
		go r.reapLoop()
	}
	return r
}

// BecomeSubreaper makes this process adopt orphaned descendants, as PID 1
// does, so that reap-all mode can be used (and tested) without being PID 1.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("cannot become a child subreaper: %w", err)
	}
	return nil
}

// Process is a started child.
type Process struct {
	Pid     int
	Started time.Time
	done    chan struct{}
	status  syscall.WaitStatus
}

// Done is closed when the process has exited and been collected.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has been collected.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Status is the wait status; valid once Done is closed.
func (p *Process) Status() syscall.WaitStatus { return p.status }

// ExitString describes how the process ended, for logs.
func (p *Process) ExitString() string {
	switch {
	case p.status.Signaled():
		return "killed by signal " + p.status.Signal().String()
	case p.status.Exited():
		return fmt.Sprintf("exit code %d", p.status.ExitStatus())
	}
	return fmt.Sprintf("wait status %#x", uint32(p.status))
}

// Signal sends sig to the process alone; nothing once it has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return syscall.Kill(p.Pid, sig)
}

// SignalGroup sends sig to the process group (the process and what it
// forked, such as a BGSAVE child).
func (p *Process) SignalGroup(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return syscall.Kill(-p.Pid, sig)
}

// Start starts cmd in its own process group. The child gets SIGKILL if the
// manager dies, so that a restarted manager never meets a stray redis-server
// on its port or volume.
func (r *Reaper) Start(cmd *exec.Cmd) (*Process, error) {
	if r.reapAll {
		for _, f := range []interface{}{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
			if _, ok := f.(*os.File); f != nil && !ok {
				return nil, errors.New("cannot start a process in reap-all mode with a pipe; use files")
			}
		}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true

	p := &Process{done: make(chan struct{})}
	// Under r.mu, so that the reap loop, in reap-all mode, never reaps the
	// child before it is known.
	r.mu.Lock()
	err := StartTied(cmd)
	if err == nil {
		p.Pid = cmd.Process.Pid
		p.Started = time.Now()
		r.running[p.Pid] = p
	}
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", cmd.Path, err)
	}
	go func() {
		if !r.reapAll {
			_ = cmd.Wait()
			r.finish(p.Pid, cmd.ProcessState.Sys().(syscall.WaitStatus))
		}
		<-p.done
		_ = cmd.Process.Release()
	}()
	return p, nil
}

func (r *Reaper) finish(pid int, ws syscall.WaitStatus) {
	r.mu.Lock()
	p, ok := r.running[pid]
	delete(r.running, pid)
	r.mu.Unlock()
	if !ok {
		r.log.Debug("reaped an orphaned process", "pid", pid, "status", uint32(ws))
		return
	}
	p.status = ws
	close(p.done)
}

func (r *Reaper) reapLoop() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	// A periodic pass covers a SIGCHLD that arrived before Notify.
	tick := time.NewTicker(time.Second)
	for {
		select {
		case <-sigs:
		case <-tick.C:
		}
		for {
			var ws syscall.WaitStatus
			// Holding mu while waiting keeps a child that exits right after
			// Start from being collected before it is registered.
			r.mu.Lock()
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			r.mu.Unlock()
			if pid <= 0 || err != nil {
				break
			}
			r.finish(pid, ws)
		}
	}
}
