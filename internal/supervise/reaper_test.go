package supervise

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func waitDone(t *testing.T, p *Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d did not exit", p.Pid)
	}
}

func TestStartSignalGroup(t *testing.T) {
	r := NewReaper(false, slog.Default())
	// The shell forks a sleep into the same process group: a group signal
	// must end both.
	p, err := r.Start(exec.Command("sh", "-c", "sleep 30 & wait"))
	if err != nil {
		t.Fatal(err)
	}
	if pgid, _ := syscall.Getpgid(p.Pid); pgid != p.Pid {
		t.Errorf("child runs in process group %d, want its own (%d)", pgid, p.Pid)
	}
	if err := p.SignalGroup(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if !strings.Contains(p.ExitString(), "terminated") {
		t.Errorf("ExitString() = %q, want killed by SIGTERM", p.ExitString())
	}
}

func TestExitCode(t *testing.T) {
	r := NewReaper(false, slog.Default())
	p, err := r.Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if p.ExitString() != "exit code 3" {
		t.Errorf("ExitString() = %q, want exit code 3", p.ExitString())
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("Signal after exit: %v", err)
	}
}

// TestReapsOrphans runs a copy of the test binary as a child subreaper: a
// shell started there leaves a background sleep behind that the kernel
// reparents to the subreaper, which must collect it (no zombie).
func TestReapsOrphans(t *testing.T) {
	if os.Getenv("HAREDIS_REAPER_HELPER") == "1" {
		reaperHelper(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReapsOrphans$", "-test.v")
	cmd.Env = append(os.Environ(), "HAREDIS_REAPER_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "orphan reaped") {
		t.Fatalf("helper failed: %v\n%s", err, out)
	}
}

func reaperHelper(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	r := NewReaper(true, slog.Default())
	pidFile := filepath.Join(t.TempDir(), "pid")
	p, err := r.Start(exec.Command("sh", "-c", "sleep 0.3 & echo $! > "+pidFile))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if p.ExitString() != "exit code 0" {
		t.Fatalf("shell: %s", p.ExitString())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(orphan) + "/stat")
		if os.IsNotExist(err) {
			t.Log("orphan reaped")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d still there: %s", orphan, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
