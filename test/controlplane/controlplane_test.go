package controlplane

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	childEnv    = "HAREDIS_CONTROLPLANE_TEST_CHILD"
	childDirEnv = "HAREDIS_CONTROLPLANE_TEST_DIR"
)

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func waitGone(t *testing.T, pids []int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still running %s after its parent went away", pid, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestStartServesAndStopLeavesNothing(t *testing.T) {
	cp, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range cp.Processes() {
		pids = append(pids, p.PID())
	}
	if len(pids) != 2 {
		t.Fatalf("want etcd and kube-apiserver, got %d processes", len(pids))
	}
	if _, err := os.Stat(cp.KubeconfigPath); err != nil {
		t.Fatalf("no kubeconfig: %v", err)
	}
	if err := cp.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitGone(t, pids, 5*time.Second)
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (%v)", cp.Dir, err)
	}
}

// TestChildrenDieWithTheParent kills a test binary that started a control
// plane, as a `go test` timeout or a crash would, and checks that etcd and
// kube-apiserver do not outlive it.
func TestChildrenDieWithTheParent(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		runChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildrenDieWithTheParent$")
	// The child's directory lives in ours, so it is removed even though the
	// child never gets to Stop.
	cmd.Env = append(os.Environ(), childEnv+"=1", childDirEnv+"="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "pids ") {
				lines <- s.Text()
				return
			}
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the child did not start a control plane in time")
	}
	if line == "" {
		_ = cmd.Wait()
		t.Fatal("the child exited without starting a control plane")
	}
	var pids []int
	for _, f := range strings.Fields(strings.TrimPrefix(line, "pids ")) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("process %d is not running before the parent is killed", pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pids, 10*time.Second)
}

func runChild() {
	cp, err := Start(context.Background(), Options{Dir: os.Getenv(childDirEnv) + "/cp"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cp.Stop() // not reached when the parent kills this process, as intended
	var pids []string
	for _, p := range cp.Processes() {
		pids = append(pids, strconv.Itoa(p.PID()))
	}
	fmt.Println("pids " + strings.Join(pids, " "))
	time.Sleep(5 * time.Minute)
}
