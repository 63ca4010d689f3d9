package supervise

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestStartTiedSurvivesTheEndOfTheCallersThread: children started from
// goroutines whose locked threads then end (as after entering a network
// namespace) keep running; with a plain cmd.Start and Pdeathsig most of
// them are killed with those threads.
func TestStartTiedSurvivesTheEndOfTheCallersThread(t *testing.T) {
	exited := make(chan error, 4)
	for range 4 {
		cmd := exec.Command("sleep", "30")
		started := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // returning without unlocking ends the thread
			started <- StartTied(cmd)
		}()
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		if cmd.SysProcAttr.Pdeathsig != syscall.SIGKILL {
			t.Fatalf("Pdeathsig %v, want SIGKILL", cmd.SysProcAttr.Pdeathsig)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		go func() { exited <- cmd.Wait() }()
	}
	select {
	case err := <-exited:
		t.Fatalf("a child died with the thread of the goroutine that started it: %v", err)
	case <-time.After(3 * time.Second):
	}
}
