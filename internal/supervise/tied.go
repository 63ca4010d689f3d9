package supervise

import (
	"os/exec"
	"runtime"
	"syscall"
)

// StartTied starts cmd so that the kernel kills it (SIGKILL) when this
// process dies: no redis-server, sentinel or test server outlives the
// process that started it. Wait for it with cmd.Wait as usual.
//
// The parent-death signal fires when the thread that forked the child
// ends, not the process, and Go ends threads (a goroutine that locked its
// thread, for example to enter a network namespace, and returned). So every
// child is forked from one OS thread that is locked for good and never
// ends. This is the one way haredis and its tests start such children.
func StartTied(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	errc := make(chan error, 1)
	spawner <- spawnRequest{cmd: cmd, errc: errc}
	return <-errc
}

type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan<- error
}

var spawner = func() chan<- spawnRequest {
	reqs := make(chan spawnRequest)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread never ends
		for r := range reqs {
			r.errc <- r.cmd.Start()
		}
	}()
	return reqs
}()
